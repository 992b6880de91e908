// Admin pages: one page per hash (#domains, #domain/NAME, #accounts,
// #account/NAME, #queue, #hooks, #retired, #reports, #dmarcreport/DOMAIN/ID,
// #tlsreport/DOMAIN/ID, #evaluations, #loginattempts, #tlskeys, #system),
// built from the JSON API (api.js). No inline script or style: the page
// runs under a strict Content-Security-Policy.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);

	// el('a', {href: '#x', class: 'c', onclick: fn}, 'text', node, ...)
	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === undefined || v === null || v === false) continue;
			if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
			else if (k === 'class') e.className = v;
			else if (k === 'value') e.value = v;
			else if (k === 'checked') e.checked = !!v;
			else e.setAttribute(k, v === true ? '' : v);
		}
		for (const k of kids.flat(Infinity)) {
			if (k === undefined || k === null || k === false) continue;
			e.append(k instanceof Node ? k : document.createTextNode(String(k)));
		}
		return e;
	}

	const time = (s) => (s ? new Date(s * 1000).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '');
	function size(n) {
		if (!n) return '0';
		const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
		return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
	}
	const yes = (b) => (b ? 'yes' : 'no');

	// ---- confirmation before destructive actions ----
	function confirmAction(text) {
		const d = $('confirm');
		$('confirmtext').textContent = text;
		return new Promise((resolve) => {
			d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
			d.returnValue = 'cancel';
			d.showModal();
			$('confirmcancel').focus();
		});
	}

	// ---- tables: sortable by clicking a header, paginated ----
	// columns: [{label, key, render(row) -> node|string, sort(row) -> value}]
	// opts: {pageSize, select (rows have .id), empty, cls}
	function table(container, columns, rows, opts) {
		opts = opts || {};
		const pageSize = opts.pageSize || 50;
		let page = 0, sortCol = -1, sortDir = 1;
		const selected = new Set();
		const wrap = el('div', { class: 'tablewrap' });
		const pager = el('div', { class: 'pager' });
		container.replaceChildren(wrap, pager);
		const value = (c, r) => (c.sort ? c.sort(r) : c.key ? r[c.key] : '');

		function draw() {
			let v = rows.slice();
			if (sortCol >= 0) {
				const c = columns[sortCol];
				v.sort((a, b) => {
					const x = value(c, a), y = value(c, b);
					return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
				});
			}
			const pages = Math.max(1, Math.ceil(v.length / pageSize));
			if (page >= pages) page = pages - 1;
			v = v.slice(page * pageSize, (page + 1) * pageSize);
			const head = el('tr', null,
				opts.select ? el('th', null, el('input', { type: 'checkbox', 'aria-label': 'Select all on this page',
					onchange: (ev) => { for (const r of v) ev.target.checked ? selected.add(r.id) : selected.delete(r.id); draw(); } })) : null,
				columns.map((c, i) => el('th', { 'aria-sort': i === sortCol ? (sortDir > 0 ? 'ascending' : 'descending') : null },
					c.nosort ? c.label : el('button', { type: 'button', onclick: () => {
						sortDir = sortCol === i ? -sortDir : 1; sortCol = i; draw();
					} }, c.label))));
			const body = el('tbody');
			for (const r of v) {
				body.append(el('tr', null,
					opts.select ? el('td', null, el('input', { type: 'checkbox', 'aria-label': 'Select ' + r.id, checked: selected.has(r.id),
						onchange: (ev) => { ev.target.checked ? selected.add(r.id) : selected.delete(r.id); } })) : null,
					columns.map((c) => el('td', null, c.render ? c.render(r) : String(r[c.key] ?? '')))));
			}
			if (!rows.length) body.append(el('tr', null, el('td', { colspan: columns.length + (opts.select ? 1 : 0), class: 'hint' }, opts.empty || 'None.')));
			wrap.replaceChildren(el('table', { class: opts.cls }, el('thead', null, head), body));
			pager.replaceChildren();
			if (rows.length > pageSize) {
				pager.append(
					el('button', { type: 'button', disabled: page === 0, onclick: () => { page--; draw(); } }, '‹ Previous'),
					`Page ${page + 1} of ${pages} (${rows.length} rows)`,
					el('button', { type: 'button', disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, 'Next ›'));
			}
		}
		draw();
		return { selected: () => [...selected] };
	}

	// ---- forms: submit calls fn(form); errors appear inline ----
	function clearErrors(form) {
		for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
		for (const e of form.querySelectorAll('.fielderror')) e.remove();
		const err = form.querySelector('.error');
		if (err) err.textContent = '';
	}
	function showError(form, e) {
		const err = form.querySelector('.error');
		if (err) err.textContent = e.message;
		// "parameter N" in the server's message: mark that field (the
		// fields are in parameter order).
		const m = /parameter (\d+)/.exec(e.message || '');
		const fields = [...form.elements].filter((x) => x.name && x.type !== 'submit' && x.type !== 'button');
		const f = m ? fields[Number(m[1]) - (form.dataset.offset ? Number(form.dataset.offset) : 1)] : null;
		if (f) {
			f.setAttribute('aria-invalid', 'true');
			f.after(el('span', { class: 'fielderror' }, e.message));
			f.focus();
		}
	}
	function bindForm(form, fn, done) {
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			clearErrors(form);
			const st = form.querySelector('.status');
			if (st) st.textContent = '';
			const btn = form.querySelector('button[type=submit]');
			if (btn) btn.disabled = true;
			try {
				const r = await fn(form);
				if (st) st.textContent = 'Saved.';
				if (done) await done(r);
			} catch (e) {
				showError(form, e);
			} finally {
				if (btn) btn.disabled = false;
			}
		});
		for (const f of form.elements) f.addEventListener('input', () => { f.removeAttribute('aria-invalid'); });
		return form;
	}
	// A small form built in JS: fields [{name, label, type, value, ...attrs}].
	function smallForm(title, fields, button, fn, done, extra) {
		const f = el('form', { class: 'sub' }, title ? el('h4', null, title) : null,
			el('div', { class: 'row' }, fields.map((x) => {
				if (x.type === 'checkbox') return el('label', { class: 'check' }, el('input', { type: 'checkbox', name: x.name, checked: x.value }), x.label);
				if (x.type === 'select') return el('label', null, x.label + ' ', el('select', { name: x.name },
					x.options.map((o) => el('option', { value: o, selected: o === x.value }, o || '(none)'))));
				if (x.type === 'textarea') return el('label', null, x.label + ' ', el('textarea', { name: x.name, rows: 3 }, x.value || ''));
				const a = Object.assign({}, x);
				delete a.label;
				return el('label', null, x.label + ' ', el('input', a));
			})),
			extra || null,
			el('button', { type: 'submit' }, button), ' ', el('span', { class: 'status', role: 'status' }),
			el('p', { class: 'error', role: 'alert' }));
		return bindForm(f, fn, done);
	}

	async function act(button, fn) {
		try { await fn(); } catch (e) { $('pageerror').textContent = e.message; }
	}

	// ---- pages ----
	async function pageDomains() {
		const v = await msapi.call('Domains');
		table($('domainlist'), [
			{ label: 'Domain', key: 'name', render: (d) => el('a', { href: '#domain/' + encodeURIComponent(d.name) }, d.name) },
			{ label: 'Accounts', key: 'accounts' },
			{ label: 'Addresses', key: 'addresses' },
			{ label: 'DKIM keys', key: 'dkimSelectors' },
			{ label: 'Client settings domain', key: 'clientSettingsDomain' },
			{ label: 'Disabled', key: 'disabled', render: (d) => yes(d.disabled) },
			{ label: 'Description', key: 'description' },
		], v, { empty: 'No domains yet.' });
	}

	async function pageDomain(name) {
		const d = await msapi.call('Domain', name);
		$('domainname').textContent = d.name;
		const box = $('domaindetail');
		const reload = () => pageDomain(name);
		const call = (m, ...p) => msapi.call(m, d.name, ...p);

		const settings = el('div', { class: 'box' }, el('h3', null, 'Settings'),
			smallForm(null, [
				{ name: 'disabled', label: 'Disabled (mail gets 450, nobody can send from it)', type: 'checkbox', value: d.disabled },
			], 'Save', (f) => call('DomainDisabledSave', f.disabled.checked)),
			smallForm(null, [
				{ name: 'reportsOnly', label: 'Reports only (no aliases, no catch-all)', type: 'checkbox', value: d.reportsOnly },
			], 'Save', (f) => call('DomainReportsOnlySave', f.reportsOnly.checked)),
			smallForm(null, [{ name: 'description', label: 'Description', value: d.description, maxlength: 1000 }],
				'Save', (f) => call('DomainDescriptionSave', f.description.value)),
			smallForm(null, [{ name: 'clientSettingsDomain', label: 'Client settings domain (host name mail clients use)', value: d.clientSettingsDomain, placeholder: 'mail.' + d.name }],
				'Save', (f) => call('DomainClientSettingsDomainSave', f.clientSettingsDomain.value)),
			smallForm('Localparts', [
				{ name: 'catchallSeparators', label: 'Catch-all separators (e.g. +-)', value: d.catchallSeparators, maxlength: 20 },
				{ name: 'caseSensitive', label: 'Case sensitive', type: 'checkbox', value: d.localpartCaseSensitive },
			], 'Save', (f) => call('DomainLocalpartConfigSave', f.catchallSeparators.value, f.caseSensitive.checked)),
			smallForm('Reports', [
				{ name: 'dmarc', label: 'DMARC aggregate reports to (localpart; empty: none)', value: d.dmarcLocalpart },
			], 'Save', (f) => call('DomainDMARCAddressSave', f.dmarc.value), reload),
			smallForm(null, [
				{ name: 'tlsrpt', label: 'TLS reports to (localpart; empty: no TLSRPT record)', value: d.tlsrptLocalpart },
			], 'Save', (f) => call('DomainTLSRPTAddressSave', f.tlsrpt.value), reload),
			(() => {
				const f = smallForm('MTA-STS policy', [
					{ name: 'mode', label: 'Mode (default: [web] mtasts_mode; none: no MTA-STS)', type: 'select', options: ['default', 'enforce', 'testing', 'none', ''], value: d.mtastsMode },
					{ name: 'maxAge', label: 'Max age (seconds, 0: default)', type: 'number', min: 0, max: 31557600, value: d.mtastsMaxAge, required: true },
					{ name: 'mx', label: 'MX hosts, one per line (empty: this server)', type: 'textarea', value: d.mtastsMX.join('\n') },
				], 'Save', (f) => call('DomainMTASTSSave', f.mode.value, Number(f.maxAge.value),
					f.mx.value.split(/\s+/).filter((x) => x)), reload,
				d.mtastsPolicy ? el('details', null, el('summary', null, 'Policy served at mta-sts.' + d.name), el('pre', { class: 'mono' }, d.mtastsPolicy)) : null);
				f.dataset.offset = '2';
				return f;
			})());

		// These forms' first parameter is the domain: field 1 is parameter 2.
		for (const f of settings.querySelectorAll('form')) f.dataset.offset = '2';

		const addresses = el('div', { class: 'box' }, el('h3', null, 'Addresses'), el('div'),
			smallForm('Add address', [
				{ name: 'localpart', label: 'Localpart (empty: catch-all)', autocomplete: 'off' },
				{ name: 'account', label: 'Account', required: true, value: d.accounts[0] || '' },
			], 'Add', (f) => msapi.call('AddressAdd', (f.localpart.value || '') + '@' + d.name, f.account.value), reload));
		table(addresses.children[1], [
			{ label: 'Address', key: 'localpart', render: (a) => (a.localpart || '(catch-all)') + '@' + d.name },
			{ label: 'Account', key: 'account', render: (a) => el('a', { href: '#account/' + encodeURIComponent(a.account) }, a.account) },
			{ label: '', nosort: true, render: (a) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				const addr = a.localpart + '@' + d.name;
				if (await confirmAction('Remove address ' + addr + ' with its rulesets?')) { await msapi.call('AddressRemove', addr); reload(); }
			}) }, 'Remove') },
		], d.addresses, { empty: 'No addresses.' });

		const aliasNames = d.aliases.map((a) => a.address);
		const aliases = el('div', { class: 'box' }, el('h3', null, 'Aliases'), el('div'),
			smallForm('Add alias', [
				{ name: 'localpart', label: 'Localpart', required: true, autocomplete: 'off' },
				{ name: 'members', label: 'Members (space or comma separated)', required: true },
				{ name: 'postPublic', label: 'Anyone may post', type: 'checkbox' },
				{ name: 'listMembers', label: 'Members see members', type: 'checkbox' },
				{ name: 'allowMsgFrom', label: 'Members may send as alias', type: 'checkbox' },
			], 'Add', (f) => msapi.call('AliasAdd', f.localpart.value + '@' + d.name, f.members.value.split(/[\s,]+/).filter((x) => x),
				f.postPublic.checked, f.listMembers.checked, f.allowMsgFrom.checked), reload));
		if (aliasNames.length) {
			aliases.append(smallForm('Alias settings and members', [
				{ name: 'alias', label: 'Alias', type: 'select', options: aliasNames, value: aliasNames[0] },
				{ name: 'postPublic', label: 'Anyone may post', type: 'checkbox' },
				{ name: 'listMembers', label: 'Members see members', type: 'checkbox' },
				{ name: 'allowMsgFrom', label: 'Members may send as alias', type: 'checkbox' },
			], 'Save settings', (f) => msapi.call('AliasUpdate', f.alias.value, f.postPublic.checked, f.listMembers.checked, f.allowMsgFrom.checked), reload));
			aliases.append(smallForm(null, [
				{ name: 'alias', label: 'Alias', type: 'select', options: aliasNames, value: aliasNames[0] },
				{ name: 'member', label: 'Member address', required: true, autocomplete: 'off' },
				{ name: 'op', label: 'Action', type: 'select', options: ['add', 'remove'], value: 'add' },
			], 'Change members', (f) => msapi.call(f.op.value === 'add' ? 'AliasAddressesAdd' : 'AliasAddressesRemove', f.alias.value, [f.member.value]), reload));
		}
		table(aliases.children[1], [
			{ label: 'Alias', key: 'address' },
			{ label: 'Members', key: 'members', render: (a) => a.members.join(', ') },
			{ label: 'Public', key: 'postPublic', render: (a) => yes(a.postPublic) },
			{ label: 'List members', key: 'listMembers', render: (a) => yes(a.listMembers) },
			{ label: 'Send as', key: 'allowMsgFrom', render: (a) => yes(a.allowMsgFrom) },
			{ label: '', nosort: true, render: (a) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove alias ' + a.address + '?')) { await msapi.call('AliasRemove', a.address); reload(); }
			}) }, 'Remove') },
		], d.aliases, { empty: 'No aliases.' });

		const dkim = el('div', { class: 'box' }, el('h3', null, 'DKIM keys'), el('div'),
			smallForm('Add a DKIM key', [
				{ name: 'selector', label: 'Selector', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9.\\-]*', autocomplete: 'off' },
				{ name: 'algorithm', label: 'Algorithm', type: 'select', options: ['ed25519', 'rsa'], value: 'ed25519' },
				{ name: 'headers', label: 'Header fields (empty: default list)', placeholder: 'from,to,subject' },
				{ name: 'expiration', label: 'Signature lifetime (seconds, 0: none)', type: 'number', min: 0, value: 259200 },
				{ name: 'oversign', label: 'Oversign', type: 'checkbox', value: true },
				{ name: 'sign', label: 'Sign with it now', type: 'checkbox', value: true },
			], 'Generate', (f) => call('DomainDKIMAdd', f.selector.value, f.algorithm.value,
				f.headers.value.split(/[\s,]+/).filter((x) => x), Number(f.expiration.value), f.oversign.checked, f.sign.checked), reload));
		dkim.children[2].dataset.offset = '2';
		table(dkim.children[1], [
			{ label: 'Selector', key: 'selector' },
			{ label: 'Algorithm', key: 'algorithm' },
			{ label: 'Signing', key: 'sign', render: (k) => el('button', { type: 'button', onclick: (ev) => act(ev.target, async () => {
				await call('DomainDKIMSignSave', k.selector, !k.sign); reload();
			}) }, k.sign ? 'yes (stop)' : 'no (start)') },
			{ label: 'Created', key: 'created', render: (k) => time(k.created) },
			{ label: 'Record', key: 'txt', render: (k) => el('span', { class: 'mono' }, k.txt) },
			{ label: '', nosort: true, render: (k) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove DKIM key ' + k.selector + '? Unpublish its DNS record afterwards.')) { await call('DomainDKIMRemove', k.selector); reload(); }
			}) }, 'Remove') },
		], d.dkim, { empty: 'No DKIM keys: outgoing mail is not signed.' });

		const dns = el('div', { class: 'box' }, el('h3', null, 'DNS records'), el('div'),
			el('button', { type: 'button', onclick: (ev) => act(ev.target, async () => {
				ev.target.disabled = true;
				try { drawRecords(await call('DomainCheck'), true); } finally { ev.target.disabled = false; }
			}) }, 'Check DNS'));
		function drawRecords(r, checked) {
			const cols = [
				{ label: 'Name', key: 'name' },
				{ label: 'Type', key: 'type' },
				{ label: 'Value', key: 'value' },
				{ label: 'Required', key: 'optional', render: (x) => (x.optional ? 'optional' : 'required') },
			];
			if (checked) cols.unshift({ label: 'State', key: 'state', render: (x) => el('span', { class: 'state-' + x.state }, x.state + (x.found && x.state !== 'ok' ? ' (found ' + x.found + ')' : '')) });
			table(dns.children[1], cols, r.records, { cls: 'records', pageSize: 100 });
			if (r.warnings.length) dns.children[1].append(el('p', { class: 'hint' }, r.warnings.join(' ')));
			if (checked) dns.children[1].prepend(el('p', { class: r.ok ? 'state-ok' : 'error' }, r.ok ? 'The required records are published.' : 'Required records are missing or different.'));
			dns.children[1].append(el('details', null, el('summary', null, 'Zone-file format'),
				el('pre', { class: 'mono' }, r.records.map((x) => (x.comment ? '; ' + x.comment + '\n' : '') + x.zone).join('\n'))));
		}
		drawRecords(await call('DomainRecords'), false);

		const danger = el('div', { class: 'box' }, el('h3', null, 'Remove domain'),
			el('p', { class: 'hint' }, 'Remove its accounts and addresses first. Aliases and DKIM keys go with the domain.'),
			el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove domain ' + d.name + ' with its aliases and DKIM keys?')) { await msapi.call('DomainRemove', d.name); location.hash = '#domains'; }
			}) }, 'Remove domain'));

		const accts = el('p', null, 'Accounts: ', d.accounts.length ? d.accounts.map((a, i) => [i ? ', ' : '', el('a', { href: '#account/' + encodeURIComponent(a) }, a)]) : 'none');
		box.replaceChildren(accts, settings, addresses, aliases, dkim, dns, danger);
	}

	async function pageAccounts() {
		const v = await msapi.call('Accounts');
		table($('accountlist'), [
			{ label: 'Account', key: 'name', render: (a) => el('a', { href: '#account/' + encodeURIComponent(a.name) }, a.name) },
			{ label: 'Full name', key: 'fullName' },
			{ label: 'Domain', key: 'domain' },
			{ label: 'Addresses', key: 'addresses' },
			{ label: 'Disk usage', key: 'diskUsage', render: (a) => size(a.diskUsage) + (a.quotaMessageSize ? ' of ' + size(a.quotaMessageSize) : '') },
			{ label: 'Login', key: 'loginDisabled', render: (a) => (a.loginDisabled ? 'disabled' : 'allowed') },
		], v, { empty: 'No accounts yet.' });
	}

	function randomPassword() {
		const b = new Uint8Array(12);
		crypto.getRandomValues(b);
		return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_');
	}

	async function pageAccount(name) {
		const a = await msapi.call('Account', name);
		$('accountname').textContent = a.name;
		const reload = () => pageAccount(a.name);
		const call = (m, ...p) => msapi.call(m, a.name, ...p);
		const info = el('div', { class: 'box' },
			el('p', null, 'Domain: ', el('a', { href: '#domain/' + encodeURIComponent(a.domain) }, a.domain),
				'. Created ', time(a.created), '. Disk usage ', size(a.diskUsage), a.quotaMessageSize ? ' of ' + size(a.quotaMessageSize) : ' (no quota)', '.'),
			el('p', null, 'Member of aliases: ', a.aliases.join(', ') || 'none', '.'),
			el('p', null, 'Webhooks: outgoing ', a.outgoingWebhookURL || 'none', ', incoming ', a.incomingWebhookURL || 'none', '.'),
			a.hasPassword ? null : el('p', { class: 'error' }, 'No password set: the account cannot log in.'));

		const pwField = { name: 'password', label: 'New password', type: 'text', minlength: 8, required: true, autocomplete: 'new-password' };
		const pw = smallForm('Password', [pwField], 'Set password', (f) => call('SetPassword', f.password.value), null,
			el('button', { type: 'button', onclick: (ev) => { ev.target.form.password.value = randomPassword(); } }, 'Generate'));
		pw.dataset.offset = '2';
		const fullname = smallForm('Full name', [{ name: 'fullName', label: 'Full name', value: a.fullName, maxlength: 1000 }], 'Save',
			(f) => call('AccountFullNameSave', f.fullName.value));
		fullname.dataset.offset = '2';
		const login = smallForm('Login', [{ name: 'message', label: 'Disable login with this message (empty: logins allowed)', value: a.loginDisabled, maxlength: 1000 }],
			'Save', (f) => call('AccountLoginDisabledSave', f.message.value), reload);
		login.dataset.offset = '2';
		const limits = smallForm('Limits', [
			{ name: 'maxOutgoing', label: 'Max outgoing messages per day', type: 'number', min: 1, value: a.maxOutgoingMessagesPerDay, required: true },
			{ name: 'maxFirst', label: 'Max first-time recipients per day', type: 'number', min: 1, value: a.maxFirstTimeRecipientsPerDay, required: true },
			{ name: 'quota', label: 'Quota in bytes (0: none)', type: 'number', min: 0, value: a.quotaMessageSize, required: true },
		], 'Save', (f) => call('AccountSettingsSave', Number(f.maxOutgoing.value), Number(f.maxFirst.value), Number(f.quota.value)), reload);
		limits.dataset.offset = '2';

		const addrs = el('div', { class: 'box' }, el('h3', null, 'Addresses'), el('div'),
			smallForm('Add address', [{ name: 'address', label: 'Address (@domain: catch-all)', required: true, autocomplete: 'off' }],
				'Add', (f) => msapi.call('AddressAdd', f.address.value, a.name), reload),
			smallForm('Address setting', [
				{ name: 'address', label: 'Address', type: 'select', options: a.addresses.map((x) => x.address), value: (a.addresses[0] || {}).address },
				{ name: 'setting', label: 'Setting', type: 'select', options: ['mailbox', 'smtp-error', 'message-auth-required-smtp-error', 'full-name'], value: 'mailbox' },
				{ name: 'value', label: 'Value' },
			], 'Save', (f) => msapi.call('AddressSettingSave', f.address.value, f.setting.value, f.value.value), reload));
		table(addrs.children[1], [
			{ label: 'Address', key: 'address' },
			{ label: 'Mailbox', key: 'mailbox' },
			{ label: 'SMTP error', key: 'smtpError' },
			{ label: 'Auth required error', key: 'messageAuthRequiredSmtpError' },
			{ label: 'Full name', key: 'fullName' },
			{ label: 'Rulesets', key: 'rulesets' },
			{ label: '', nosort: true, render: (x) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove address ' + x.address + ' with its rulesets?')) { await msapi.call('AddressRemove', x.address); reload(); }
			}) }, 'Remove') },
		], a.addresses);

		// Rulesets of one address at a time.
		const rulesBox = el('div', { class: 'box' }, el('h3', null, 'Rulesets'),
			el('p', { class: 'hint' }, 'The first ruleset whose conditions all match chooses the mailbox of incoming mail.'));
		if (a.addresses.length) {
			const sel = el('select', { 'aria-label': 'Address' }, a.addresses.map((x) => el('option', { value: x.address }, x.address)));
			const list = el('div');
			const loadRules = async () => {
				const addr = sel.value;
				table(list, [
					{ label: '#', key: 'position' },
					{ label: 'Mailbox', key: 'mailbox' },
					{ label: 'Conditions', nosort: true, render: (r) => [
						r.smtpMailFromRegexp && 'MAIL FROM ~ ' + r.smtpMailFromRegexp,
						r.msgFromRegexp && 'From ~ ' + r.msgFromRegexp,
						r.verifiedDomain && 'verified ' + r.verifiedDomain,
						...Object.entries(r.headersRegexp).map(([k, v]) => k + ': ' + v),
						r.isForward && 'forward'].filter((x) => x).join('; ') },
					{ label: 'Comment', key: 'comment' },
					{ label: '', nosort: true, render: (r) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
						if (await confirmAction('Remove ruleset ' + r.position + ' of ' + addr + '?')) { await msapi.call('RulesetRemove', addr, r.position); loadRules(); }
					}) }, 'Remove') },
				], await msapi.call('Rulesets', addr), { empty: 'No rulesets: mail goes to the address\'s mailbox.' });
			};
			sel.addEventListener('change', () => loadRules().catch((e) => { $('pageerror').textContent = e.message; }));
			const add = smallForm('Add ruleset', [
				{ name: 'mailbox', label: 'Mailbox', required: true },
				{ name: 'mailfrom', label: 'MAIL FROM regexp' },
				{ name: 'msgfrom', label: 'From regexp' },
				{ name: 'verified', label: 'Verified domain' },
				{ name: 'hfield', label: 'Header field regexp' },
				{ name: 'hvalue', label: 'Header value regexp' },
				{ name: 'comment', label: 'Comment' },
			], 'Add', (f) => {
				const rs = { mailbox: f.mailbox.value, smtpMailFromRegexp: f.mailfrom.value, msgFromRegexp: f.msgfrom.value,
					verifiedDomain: f.verified.value, comment: f.comment.value, headersRegexp: {} };
				if (f.hfield.value) rs.headersRegexp[f.hfield.value] = f.hvalue.value;
				return msapi.call('RulesetAdd', sel.value, rs);
			}, async () => { add.reset(); await loadRules(); });
			rulesBox.append(el('label', null, 'Address ', sel), list, add);
			await loadRules();
		}

		const keys = el('div', { class: 'box' }, el('h3', null, 'TLS public keys'), el('div'));
		table(keys.children[1], tlsKeyColumns(reload), await msapi.call('TLSPublicKeys', a.name), { empty: 'No TLS keys.' });

		const events = ['delivered', 'suppressed', 'delayed', 'failed', 'relayed', 'expanded', 'canceled', 'unrecognized'];
		const hooks = el('div', { class: 'box' }, el('h3', null, 'Webhooks and history'),
			(() => {
				const f = smallForm('Outgoing delivery events', [
					{ name: 'url', label: 'URL (empty: none)', type: 'url', value: a.outgoingWebhookURL, placeholder: 'https://' },
					{ name: 'authorization', label: 'Authorization header' + (a.outgoingWebhookAuthorization ? ' (one is set; saving replaces it)' : ''), type: 'password', autocomplete: 'off' },
				], 'Save', (f) => call('AccountWebhookSave', 'outgoing', f.url.value, f.authorization.value,
					events.filter((e) => f['ev-' + e].checked)), reload,
				el('fieldset', null, el('legend', null, 'Events (none checked: all)'),
					events.map((e) => el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'ev-' + e, checked: a.outgoingWebhookEvents.includes(e) }), e))));
				f.dataset.offset = '3';
				return f;
			})(),
			(() => {
				const f = smallForm('Incoming messages', [
					{ name: 'url', label: 'URL (empty: none)', type: 'url', value: a.incomingWebhookURL, placeholder: 'https://' },
					{ name: 'authorization', label: 'Authorization header' + (a.incomingWebhookAuthorization ? ' (one is set; saving replaces it)' : ''), type: 'password', autocomplete: 'off' },
				], 'Save', (f) => call('AccountWebhookSave', 'incoming', f.url.value, f.authorization.value, []), reload);
				f.dataset.offset = '3';
				return f;
			})(),
			(() => { const f = smallForm('Keep history', [
				{ name: 'msgs', label: 'Delivery history (days)', type: 'number', min: 0, step: 'any', value: a.keepRetiredMessageSeconds / 86400, required: true },
				{ name: 'hooks', label: 'Finished webhook calls (days)', type: 'number', min: 0, step: 'any', value: a.keepRetiredWebhookSeconds / 86400, required: true },
			], 'Save', (f) => call('AccountKeepRetiredSave', Math.round(Number(f.msgs.value) * 86400), Math.round(Number(f.hooks.value) * 86400)), reload);
			f.dataset.offset = '2';
			return f; })());

		const sup = el('div', { class: 'box' }, el('h3', null, 'Suppression list'),
			el('p', { class: 'hint' }, 'Deliveries to these addresses fail at once (matched by base address).'), el('div'),
			(() => {
				const f = smallForm('Suppress an address', [
					{ name: 'address', label: 'Address', type: 'email', required: true, autocomplete: 'off' },
					{ name: 'reason', label: 'Reason' },
				], 'Add', (f) => call('SuppressionAdd', f.address.value, f.reason.value), reload);
				f.dataset.offset = '2';
				return f;
			})());
		table(sup.children[2], [
			{ label: 'Base address', key: 'baseAddress' },
			{ label: 'Original', key: 'originalAddress' },
			{ label: 'Reason', key: 'reason' },
			{ label: 'Manual', key: 'manual', render: (x) => yes(x.manual) },
			{ label: 'Added', key: 'created', render: (x) => time(x.created) },
			{ label: '', nosort: true, render: (x) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove ' + x.baseAddress + ' from the suppression list?')) { await call('SuppressionRemove', x.baseAddress); reload(); }
			}) }, 'Remove') },
		], await msapi.call('Suppressions', a.name), { empty: 'No suppressed addresses.' });

		const danger = el('div', { class: 'box' }, el('h3', null, 'Remove account'),
			el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove account ' + a.name + ' with all its messages, addresses and settings? This cannot be undone.')) {
					await msapi.call('AccountRemove', a.name); location.hash = '#accounts';
				}
			}) }, 'Remove account'));
		$('accountdetail').replaceChildren(info, el('div', { class: 'box' }, el('h3', null, 'Settings'), pw, fullname, login, limits), addrs, rulesBox, hooks, sup, keys, danger);
	}

	// Queue: pages come from the server (QueueList offset/limit).
	const queueState = { offset: 0, limit: 50, filter: {}, table: null, total: 0 };
	async function pageQueue() {
		const r = await msapi.call('QueueList', queueState.filter, queueState.offset, queueState.limit);
		queueState.total = r.total;
		const box = $('queuelist');
		queueState.table = table(box, [
			{ label: 'ID', key: 'id' },
			{ label: 'Queued', key: 'queued', render: (m) => time(m.queued) },
			{ label: 'Account', key: 'account' },
			{ label: 'From', key: 'sender' },
			{ label: 'To', key: 'recipient' },
			{ label: 'Subject', key: 'subject' },
			{ label: 'Size', key: 'size', render: (m) => size(m.size) },
			{ label: 'Attempts', key: 'attempts' },
			{ label: 'Next attempt', key: 'nextAttempt', render: (m) => (m.hold ? 'on hold' : time(m.nextAttempt)) },
			{ label: 'Last error', key: 'lastError' },
			{ label: 'Transport', key: 'transport' },
			{ label: 'REQUIRETLS', key: 'requireTLS', render: (m) => (m.requireTLS === null ? 'default' : yes(m.requireTLS)) },
		], r.messages, { select: true, pageSize: queueState.limit, empty: 'The queue is empty.' });
		const first = r.total ? queueState.offset + 1 : 0;
		box.append(el('div', { class: 'pager' },
			el('button', { type: 'button', disabled: queueState.offset === 0, onclick: () => { queueState.offset = Math.max(0, queueState.offset - queueState.limit); pageQueue(); } }, '‹ Previous'),
			`${first}–${queueState.offset + r.messages.length} of ${r.total}`,
			el('button', { type: 'button', disabled: queueState.offset + r.messages.length >= r.total, onclick: () => { queueState.offset += queueState.limit; pageQueue(); } }, 'Next ›')));
		const rules = await msapi.call('QueueHoldRuleList');
		table($('holdrules'), [
			{ label: 'ID', key: 'id' },
			{ label: 'Account', key: 'account', render: (x) => x.account || 'any' },
			{ label: 'Sender domain', key: 'senderDomain', render: (x) => x.senderDomain || 'any' },
			{ label: 'Recipient domain', key: 'recipientDomain', render: (x) => x.recipientDomain || 'any' },
			{ label: '', nosort: true, render: (x) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove hold rule ' + x.id + '? Held messages stay on hold.')) { await msapi.call('QueueHoldRuleRemove', x.id); pageQueue(); }
			}) }, 'Remove') },
		], rules, { empty: 'No hold rules.' });
	}

	async function queueAction(what, bar) {
		const ids = queueState.table ? queueState.table.selected() : [];
		const err = bar.querySelector('.error');
		err.textContent = '';
		if (!ids.length) { err.textContent = 'Select messages first.'; return; }
		const n = ids.length + ' message' + (ids.length === 1 ? '' : 's');
		try {
			switch (what) {
			case 'hold': await msapi.call('QueueHoldSet', ids, true); break;
			case 'release': await msapi.call('QueueHoldSet', ids, false); break;
			case 'now': await msapi.call('QueueNextAttemptSet', ids, 0); break;
			case 'schedule': await msapi.call('QueueNextAttemptSet', ids, Number(bar.querySelector('[name=minutes]').value)); break;
			case 'requiretls': await msapi.call('QueueRequireTLSSet', ids, bar.querySelector('[name=requiretls]').value); break;
			case 'transport': await msapi.call('QueueTransportSet', ids, bar.querySelector('[name=transport]').value); break;
			case 'fail':
				if (!await confirmAction('Fail ' + n + ' now? The senders get a failure notice.')) return;
				await msapi.call('QueueFail', ids); break;
			case 'drop':
				if (!await confirmAction('Drop ' + n + ' without delivering or notifying the senders?')) return;
				await msapi.call('QueueDrop', ids); break;
			}
			await pageQueue();
		} catch (e) { err.textContent = e.message; }
	}

	let hookTable = null;
	async function pageHooks() {
		const cols = [
			{ label: 'ID', key: 'id' },
			{ label: 'Account', key: 'account' },
			{ label: 'Event', key: 'event', render: (h) => (h.isIncoming ? 'incoming' : h.event) },
			{ label: 'URL', key: 'url' },
			{ label: 'Submitted', key: 'submitted', render: (h) => time(h.submitted) },
			{ label: 'Attempts', key: 'attempts' },
			{ label: 'Last result', key: 'lastResult' },
		];
		hookTable = table($('hooklist'), cols.concat([{ label: 'Next attempt', key: 'nextAttempt', render: (h) => time(h.nextAttempt) }]),
			await msapi.call('HookList', '', 10000), { select: true, empty: 'No webhook calls waiting.' });
		table($('hookretired'), cols.concat([{ label: 'Success', key: 'success', render: (h) => yes(h.success) },
			{ label: 'Last activity', key: 'lastActivity', render: (h) => time(h.lastActivity) }]),
		await msapi.call('HookRetiredList', '', 10000), { empty: 'None kept.' });
	}

	async function pageRetired() {
		table($('retiredlist'), [
			{ label: 'ID', key: 'id' },
			{ label: 'Account', key: 'account' },
			{ label: 'From', key: 'sender' },
			{ label: 'To', key: 'recipient' },
			{ label: 'Subject', key: 'subject' },
			{ label: 'Result', key: 'success', render: (m) => (m.success ? 'delivered' : 'failed') },
			{ label: 'Attempts', key: 'attempts' },
			{ label: 'Last activity', key: 'lastActivity', render: (m) => time(m.lastActivity) },
			{ label: 'Last error', key: 'lastError' },
		], await msapi.call('RetiredList', '', 10000), { empty: 'No history kept.' });
	}

	async function pageLoginAttempts() {
		table($('loginattemptlist'), [
			{ label: 'Last', key: 'last', render: (x) => time(x.last) },
			{ label: 'Count', key: 'count' },
			{ label: 'Account', key: 'accountName' },
			{ label: 'Login', key: 'loginAddress' },
			{ label: 'Remote IP', key: 'remoteIP' },
			{ label: 'Protocol', key: 'protocol' },
			{ label: 'Mechanism', key: 'authMech' },
			{ label: 'Result', key: 'result' },
			{ label: 'User agent', key: 'userAgent' },
		], await msapi.call('LoginAttempts', 10000), { empty: 'No login attempts recorded.' });
	}

	function tlsKeyColumns(reload) {
		return [
			{ label: 'Name', key: 'name' },
			{ label: 'Account', key: 'account' },
			{ label: 'Login address', key: 'loginAddress' },
			{ label: 'Type', key: 'type' },
			{ label: 'IMAP preauth', key: 'noIMAPPreauth', render: (k) => yes(!k.noIMAPPreauth) },
			{ label: 'Fingerprint', key: 'fingerprint', render: (k) => el('span', { class: 'mono' }, k.fingerprint) },
			{ label: 'Added', key: 'created', render: (k) => time(k.created) },
			{ label: '', nosort: true, render: (k) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove TLS key "' + k.name + '" of ' + k.account + '? Clients using it can no longer log in with it.')) {
					await msapi.call('TLSPublicKeyRemove', k.fingerprint); reload();
				}
			}) }, 'Remove') },
		];
	}
	async function pageTLSKeys() {
		table($('tlskeylist'), tlsKeyColumns(pageTLSKeys), await msapi.call('TLSPublicKeys', ''), { empty: 'No TLS keys.' });
	}

	async function pageSystem() {
		const [ver, tr] = await Promise.all([msapi.call('Version'), msapi.call('Transports')]);
		const t = el('div');
		$('systeminfo').replaceChildren(el('p', null, ver), el('h3', null, 'Transports'), t);
		table(t, [
			{ label: 'Name', key: 'name' }, { label: 'Type', key: 'type' }, { label: 'Host', key: 'host' }, { label: 'Port', key: 'port' },
		], tr, { empty: 'No transports configured: direct delivery.' });
		await loadLogLevels();
		await loadRoutes();
	}

	// Log levels: the default ("") first, then every program.
	async function loadLogLevels() {
		const lv = await msapi.call('LogLevels');
		const name = (p) => p || '(default)';
		const rows = Object.keys(lv.effective).map((p) => ({ program: p, set: lv.levels[p] || '', effective: lv.effective[p] }));
		table($('loglevellist'), [
			{ label: 'Program', key: 'program', render: (r) => name(r.program) },
			{ label: 'Set', key: 'set', render: (r) => r.set || el('span', { class: 'hint' }, r.program ? 'default' : 'config file: ' + lv.configured) },
			{ label: 'In effect', key: 'effective' },
			{ label: '', nosort: true, render: (r) => (r.set ? el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				const then = r.program ? 'the default' : 'the config file\'s level (' + lv.configured + ')';
				if (await confirmAction('Remove the log level of ' + name(r.program) + '? It then logs at ' + then + '.')) {
					await msapi.call('LogLevelRemove', r.program); await loadLogLevels();
				}
			}) }, 'Remove') : '') },
		], rows);
	}

	// ---- reports received, evaluations, TLS results, suppression lists ----
	const DAY = 86400;
	const dayOf = (t) => new Date(t * 1000).toISOString().slice(0, 10);
	const dayStart = (s) => Math.floor(Date.parse(s + 'T00:00:00Z') / 1000);
	const now = () => Math.floor(Date.now() / 1000);
	// Reports page state: period [start, end) in unix seconds, domain, pages.
	const reportState = { start: (Math.floor(now() / DAY) - 29) * DAY, end: (Math.floor(now() / DAY) + 1) * DAY,
		domain: '', dmarcOffset: 0, tlsOffset: 0, limit: 50 };
	const counts = (o) => Object.entries(o || {}).map(([k, n]) => k + ': ' + n).join(', ');

	// A pager for a server-paginated list: state[key] is the offset.
	function serverPager(box, state, key, total, shown, reload) {
		if (total <= state.limit && state[key] === 0) return;
		const first = total ? state[key] + 1 : 0;
		box.append(el('div', { class: 'pager' },
			el('button', { type: 'button', disabled: state[key] === 0, onclick: () => { state[key] = Math.max(0, state[key] - state.limit); reload(); } }, '‹ Previous'),
			`${first}–${state[key] + shown} of ${total}`,
			el('button', { type: 'button', disabled: state[key] + shown >= total, onclick: () => { state[key] += state.limit; reload(); } }, 'Next ›')));
	}

	async function loadDMARCReports() {
		const s = reportState;
		const [sums, page] = await Promise.all([msapi.call('DMARCSummaries', s.start, s.end, s.domain),
			msapi.call('DMARCReports', s.start, s.end, s.domain, s.dmarcOffset, s.limit)]);
		const none = 'No DMARC aggregate reports received yet' + (s.domain ? ' for ' + s.domain : '') + ' in this period.';
		if (!sums.length) {
			$('dmarcsummaries').replaceChildren(el('p', { class: 'empty' }, none));
			$('dmarcreports').replaceChildren();
			return;
		}
		table($('dmarcsummaries'), [
			{ label: 'Domain', key: 'domain' },
			{ label: 'Reports', key: 'reports' },
			{ label: 'Messages', key: 'total' },
			{ label: 'None', key: 'dispositionNone' },
			{ label: 'Quarantined', key: 'dispositionQuarantine' },
			{ label: 'Rejected', key: 'dispositionReject' },
			{ label: 'DKIM fail', key: 'dkimFail' },
			{ label: 'SPF fail', key: 'spfFail' },
			{ label: 'Policy overrides', key: 'policyOverrides', nosort: true, render: (x) => counts(x.policyOverrides) },
		], sums, { empty: none });
		const box = $('dmarcreports');
		table(box, [
			{ label: 'ID', key: 'id', render: (r) => el('a', { href: '#dmarcreport/' + encodeURIComponent(r.domain) + '/' + r.id }, String(r.id)) },
			{ label: 'Domain', key: 'domain' },
			{ label: 'Reporter', key: 'orgName' },
			{ label: 'Begin', key: 'begin', render: (r) => time(r.begin) },
			{ label: 'End', key: 'end', render: (r) => time(r.end) },
			{ label: 'Policy', key: 'policyPublished', sort: (r) => r.policyPublished.p, render: (r) => 'p=' + (r.policyPublished.p || '') },
			{ label: 'Records', key: 'records' },
			{ label: 'Messages', key: 'messages' },
			{ label: 'DKIM fail', key: 'dkimFail' },
			{ label: 'SPF fail', key: 'spfFail' },
		], page.reports, { pageSize: s.limit, empty: none });
		serverPager(box, s, 'dmarcOffset', page.total, page.reports.length, loadDMARCReports);
	}

	async function loadTLSReports() {
		const s = reportState;
		const [sums, page] = await Promise.all([msapi.call('TLSRPTSummaries', s.start, s.end, s.domain),
			msapi.call('TLSReports', s.start, s.end, s.domain, s.tlsOffset, s.limit)]);
		const none = 'No TLS reports received yet' + (s.domain ? ' for ' + s.domain : '') + ' in this period.';
		if (!sums.length) {
			$('tlssummaries').replaceChildren(el('p', { class: 'empty' }, none));
			$('tlsreports').replaceChildren();
			return;
		}
		table($('tlssummaries'), [
			{ label: 'Policy domain', key: 'policyDomain' },
			{ label: 'Reports', key: 'reports' },
			{ label: 'Successful sessions', key: 'success' },
			{ label: 'Failed sessions', key: 'failure' },
			{ label: 'Failures by type', key: 'resultTypeCounts', nosort: true, render: (x) => counts(x.resultTypeCounts) },
		], sums, { empty: none });
		const box = $('tlsreports');
		table(box, [
			{ label: 'ID', key: 'id', render: (r) => el('a', { href: '#tlsreport/' + encodeURIComponent(r.policyDomains[0]) + '/' + r.id }, String(r.id)) },
			{ label: 'Policy domains', key: 'policyDomains', sort: (r) => r.policyDomains.join(' '), render: (r) => r.policyDomains.join(', ') + (r.hostReport ? ' (MX host)' : '') },
			{ label: 'Reporter', key: 'orgName' },
			{ label: 'Begin', key: 'begin', render: (r) => time(r.begin) },
			{ label: 'End', key: 'end', render: (r) => time(r.end) },
			{ label: 'Successful', key: 'success' },
			{ label: 'Failed', key: 'failure' },
		], page.reports, { pageSize: s.limit, empty: none });
		serverPager(box, s, 'tlsOffset', page.total, page.reports.length, loadTLSReports);
	}

	async function pageReports() {
		const f = $('reportrange');
		f.start.value = dayOf(reportState.start);
		f.end.value = dayOf(reportState.end - DAY);
		f.domain.value = reportState.domain;
		await Promise.all([loadDMARCReports(), loadTLSReports()]);
	}

	// A definition list of [label, value] pairs.
	const facts = (pairs) => el('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [el('dt', null, k), el('dd', null, v)]));
	const authList = (v) => (v || []).map((a) => (a.domain || '?') + (a.selector ? ' (' + a.selector + ')' : '') + (a.scope ? ' ' + a.scope : '') + ': ' + (a.result || '')).join(', ');

	async function pageDMARCReport(arg) {
		const i = arg.lastIndexOf('/');
		const r = await msapi.call('DMARCReportID', arg.slice(0, i), Number(arg.slice(i + 1)));
		const md = r.report.report_metadata || {}, pp = r.report.policy_published || {};
		$('dmarcreportname').textContent = r.id + ' about ' + r.domain;
		const recs = el('div');
		$('dmarcreportdetail').replaceChildren(facts([
			['Reporter', md.org_name], ['Contact', md.email], ['Extra contact', md.extra_contact_info],
			['Report ID', md.report_id], ['Period', time(md.date_range.begin) + ' – ' + time(md.date_range.end)],
			['Received', time(r.received)], ['Sent from domain', r.fromDomain],
			['Policy published', ['p', 'sp', 'adkim', 'aspf', 'pct', 'fo'].filter((k) => pp[k] !== undefined).map((k) => k + '=' + pp[k]).join('; ')],
			['Errors', (md.error || []).join('; ')],
		]), el('h3', null, 'Records'), recs);
		table(recs, [
			{ label: 'Source IP', key: 'ip', sort: (x) => x.row.source_ip, render: (x) => x.row.source_ip },
			{ label: 'Count', key: 'count', sort: (x) => x.row.count, render: (x) => x.row.count },
			{ label: 'Disposition', key: 'disp', sort: (x) => x.row.policy_evaluated.disposition, render: (x) => x.row.policy_evaluated.disposition || '' },
			{ label: 'DKIM', key: 'dkim', sort: (x) => x.row.policy_evaluated.dkim, render: (x) => x.row.policy_evaluated.dkim || '' },
			{ label: 'SPF', key: 'spf', sort: (x) => x.row.policy_evaluated.spf, render: (x) => x.row.policy_evaluated.spf || '' },
			{ label: 'Overrides', key: 'reason', nosort: true, render: (x) => (x.row.policy_evaluated.reason || []).map((o) => o.type + (o.comment ? ' (' + o.comment + ')' : '')).join(', ') },
			{ label: 'Header from', key: 'hf', sort: (x) => x.identifiers.header_from, render: (x) => x.identifiers.header_from || '' },
			{ label: 'Envelope from', key: 'ef', sort: (x) => x.identifiers.envelope_from, render: (x) => x.identifiers.envelope_from || '' },
			{ label: 'DKIM results', key: 'ad', nosort: true, render: (x) => authList(x.auth_results.dkim) },
			{ label: 'SPF results', key: 'as', nosort: true, render: (x) => authList(x.auth_results.spf) },
		], r.report.record || [], { empty: 'The report has no records.' });
	}

	async function pageTLSReport(arg) {
		const i = arg.lastIndexOf('/');
		const r = await msapi.call('TLSReportID', arg.slice(0, i), Number(arg.slice(i + 1)));
		const rep = r.report, dr = rep['date-range'] || {};
		$('tlsreportname').textContent = r.id + ' about ' + r.policyDomains.join(', ');
		const out = [facts([
			['Reporter', rep['organization-name']], ['Contact', rep['contact-info']], ['Report ID', rep['report-id']],
			['Period', (dr['start-datetime'] || '') + ' – ' + (dr['end-datetime'] || '')], ['Received', time(r.received)],
			['Sent from', r.mailFrom || r.fromDomain], ['About', r.hostReport ? 'our MX host (DANE)' : 'a mail domain'],
		])];
		for (const p of rep.policies || []) {
			const pol = p.policy || {}, sum = p.summary || {};
			const fd = el('div');
			out.push(el('div', { class: 'box' }, el('h3', null, (pol['policy-type'] || '') + ' policy of ' + (pol['policy-domain'] || '')),
				facts([['Successful sessions', String(sum['total-successful-session-count'])], ['Failed sessions', String(sum['total-failure-session-count'])],
					['MX hosts', (pol['mx-host'] || []).join(', ')]]),
				(pol['policy-string'] || []).length ? el('pre', { class: 'mono' }, pol['policy-string'].join('\n')) : null, fd));
			table(fd, [
				{ label: 'Result', key: 'result-type' },
				{ label: 'Sessions', key: 'failed-session-count' },
				{ label: 'Sending IP', key: 'sending-mta-ip' },
				{ label: 'Receiving MX', key: 'receiving-mx-hostname' },
				{ label: 'Receiving IP', key: 'receiving-ip' },
				{ label: 'Reason', key: 'failure-reason-code' },
				{ label: 'Information', key: 'additional-information' },
			], p['failure-details'] || [], { empty: 'No failures.' });
		}
		$('tlsreportdetail').replaceChildren(...out);
	}

	const evalState = { domain: '', offset: 0, limit: 50 };
	const resultState = { offset: 0, limit: 50 };
	const FAR = 253402300799;

	async function loadEvaluations() {
		const box = $('dmarcevals');
		if (!evalState.domain) { box.replaceChildren(); return; }
		const page = await msapi.call('DMARCEvaluationsDomain', evalState.domain, 0, FAR, evalState.offset, evalState.limit);
		const t = el('div');
		box.replaceChildren(el('h3', null, 'Evaluations for ' + evalState.domain), t);
		table(t, [
			{ label: 'Evaluated', key: 'evaluated', render: (e) => time(e.evaluated) },
			{ label: 'Source IP', key: 'sourceIP' },
			{ label: 'Disposition', key: 'disposition' },
			{ label: 'DKIM aligned', key: 'alignedDKIMPass', render: (e) => yes(e.alignedDKIMPass) },
			{ label: 'SPF aligned', key: 'alignedSPFPass', render: (e) => yes(e.alignedSPFPass) },
			{ label: 'Overrides', key: 'overrideReasons', nosort: true, render: (e) => e.overrideReasons.join(', ') },
			{ label: 'Envelope from', key: 'envelopeFrom' },
			{ label: 'Header from', key: 'headerFrom' },
			{ label: 'Optional', key: 'optional', render: (e) => yes(e.optional) },
			{ label: 'Report to', key: 'addresses', nosort: true, render: (e) => e.addresses.join(', ') },
		], page.evaluations, { pageSize: evalState.limit, empty: 'No evaluations kept for ' + evalState.domain + '.' });
		serverPager(t, evalState, 'offset', page.total, page.evaluations.length, loadEvaluations);
	}

	async function loadTLSResults() {
		const page = await msapi.call('TLSRPTResults', 0, FAR, resultState.offset, resultState.limit);
		const box = $('tlsresults');
		table(box, [
			{ label: 'Day', key: 'day' },
			{ label: 'Policy domain', key: 'policyDomain' },
			{ label: 'Recipient domain', key: 'recipientDomain' },
			{ label: 'Policy', key: 'policyType', render: (r) => r.policyType + (r.isHost ? ' (MX host)' : '') },
			{ label: 'Successes', key: 'successCount' },
			{ label: 'Failures', key: 'failureCount' },
			{ label: 'Failure types', key: 'failureDetails', nosort: true, render: (r) => r.failureDetails.map((d) => d['result-type'] + ': ' + d['failed-session-count']).join(', ') },
			{ label: 'Report', key: 'sendReport', render: (r) => yes(r.sendReport) },
			{ label: '', nosort: true, render: (r) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove the TLS results of ' + r.policyDomain + ' for ' + r.day + '? They will not be reported.')) {
					await msapi.call('TLSRPTRemoveResults', false, r.policyDomain, r.day); loadTLSResults();
				}
			}) }, 'Remove') },
		], page.results, { pageSize: resultState.limit, empty: 'No TLS results kept: nothing to report yet.' });
		serverPager(box, resultState, 'offset', page.total, page.results.length, loadTLSResults);
	}

	async function loadSuppressions(kind) {
		const list = await msapi.call(kind + 'SuppressList');
		const reload = () => loadSuppressions(kind);
		table($(kind.toLowerCase() + 'suppress'), [
			{ label: 'Address', key: 'reportingAddress' },
			{ label: 'Until', key: 'until', render: (x) => time(x.until) + (x.active ? '' : ' (expired)') },
			{ label: 'Comment', key: 'comment' },
			{ label: 'Added', key: 'inserted', render: (x) => time(x.inserted) },
			{ label: '', nosort: true, render: (x) => el('span', { class: 'actions' },
				el('button', { type: 'button', onclick: (ev) => act(ev.target, async () => {
					await msapi.call(kind + 'SuppressExtend', x.id, Math.max(now(), x.until) + 30 * DAY); reload();
				}) }, '+30 days'),
				el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
					if (await confirmAction('Remove ' + x.reportingAddress + ' from the suppression list? It gets reports again.')) {
						await msapi.call(kind + 'SuppressRemove', x.id); reload();
					}
				}) }, 'Remove')) },
		], list, { empty: 'No addresses suppressed.' });
	}

	async function pageEvaluations() {
		const stats = await msapi.call('DMARCEvaluationStats');
		table($('dmarcstats'), [
			{ label: 'Domain', key: 'domain', render: (x) => el('button', { type: 'button', class: 'link', onclick: () => act(null, async () => {
				evalState.domain = x.domain; evalState.offset = 0; await loadEvaluations();
			}) }, x.domain) },
			{ label: 'Evaluations', key: 'count' },
			{ label: 'Dispositions', key: 'dispositions', nosort: true, render: (x) => x.dispositions.join(', ') },
			{ label: 'Report will be sent', key: 'sendReport', render: (x) => yes(x.sendReport) },
			{ label: 'First', key: 'first', render: (x) => time(x.first) },
			{ label: 'Last', key: 'last', render: (x) => time(x.last) },
			{ label: '', nosort: true, render: (x) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove all ' + x.count + ' DMARC evaluations of ' + x.domain + '? No report will be sent for them.')) {
					await msapi.call('DMARCRemoveEvaluations', x.domain);
					if (evalState.domain === x.domain) evalState.domain = '';
					pageEvaluations();
				}
			}) }, 'Remove') },
		], stats, { empty: 'No evaluations kept: no incoming messages evaluated for DMARC reports yet.' });
		if (evalState.domain && !stats.some((x) => x.domain === evalState.domain)) evalState.domain = '';
		for (const k of ['DMARC', 'TLSRPT']) {
			const f = $(k.toLowerCase() + 'suppressadd');
			if (!f.until.value) f.until.value = dayOf(now() + 30 * DAY);
		}
		await Promise.all([loadEvaluations(), loadTLSResults(), loadSuppressions('DMARC'), loadSuppressions('TLSRPT')]);
	}

	async function loadRoutes() {
		table($('routelist'), [
			{ label: 'ID', key: 'id' },
			{ label: 'Level', key: 'account', render: (r) => (r.account ? 'account ' + r.account : r.domain ? 'domain ' + r.domain : 'global') },
			{ label: 'From domains', key: 'fromDomains', render: (r) => r.fromDomains || 'any' },
			{ label: 'To domains', key: 'toDomains', render: (r) => r.toDomains || 'any' },
			{ label: 'Min. attempts', key: 'minAttempts' },
			{ label: 'Transport', key: 'transport' },
			{ label: '', nosort: true, render: (r) => el('button', { type: 'button', class: 'danger', onclick: (ev) => act(ev.target, async () => {
				if (await confirmAction('Remove route ' + r.id + '?')) { await msapi.call('RouteRemove', r.id); loadRoutes(); }
			}) }, 'Remove') },
		], await msapi.call('RouteList'), { empty: 'No routes: direct delivery.' });
	}

	const pages = {
		domains: pageDomains, domain: pageDomain, accounts: pageAccounts, account: pageAccount,
		queue: pageQueue, hooks: pageHooks, retired: pageRetired, reports: pageReports,
		dmarcreport: pageDMARCReport, tlsreport: pageTLSReport, evaluations: pageEvaluations,
		loginattempts: pageLoginAttempts,
		tlskeys: pageTLSKeys, system: pageSystem,
	};

	async function route() {
		const h = location.hash.replace(/^#/, '') || 'domains';
		const slash = h.indexOf('/');
		const name = slash < 0 ? h : h.slice(0, slash);
		const arg = slash < 0 ? '' : decodeURIComponent(h.slice(slash + 1));
		const fn = pages[name] || pageDomains;
		$('pageerror').textContent = '';
		for (const s of document.querySelectorAll('section.page')) s.hidden = s.id !== (pages[name] ? name : 'domains');
		for (const a of document.querySelectorAll('nav a')) {
			if (a.getAttribute('href') === '#' + name || (name === 'domain' && a.getAttribute('href') === '#domains') ||
			    (name === 'account' && a.getAttribute('href') === '#accounts') ||
			    ((name === 'dmarcreport' || name === 'tlsreport') && a.getAttribute('href') === '#reports')) a.setAttribute('aria-current', 'page');
			else a.removeAttribute('aria-current');
		}
		try {
			await fn(arg);
			$('nav').hidden = false;
		} catch (e) {
			$('pageerror').textContent = e.message;
		}
	}

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), false));
	$('logout').addEventListener('click', async () => {
		await msapi.logout();
		location.reload();
	});
	bindForm($('domainadd'), (f) => msapi.call('DomainAdd', f.domain.value.trim(), f.accountLocalpart.value.trim()),
		() => { const d = $('domainadd').domain.value.trim(); $('domainadd').reset(); location.hash = '#domain/' + encodeURIComponent(d); });
	bindForm($('accountadd'), (f) => msapi.call('AccountAdd', f.address.value.trim()),
		(name) => { $('accountadd').reset(); location.hash = '#account/' + encodeURIComponent(name); });
	bindForm($('holdruleadd'), (f) => msapi.call('QueueHoldRuleAdd', f.account.value.trim(), f.senderDomain.value.trim(), f.recipientDomain.value.trim()),
		() => { $('holdruleadd').reset(); return pageQueue(); });
	const words = (v) => v.split(/[\s,]+/).filter((x) => x);
	bindForm($('loglevelset'), (f) => msapi.call('LogLevelSet', f.program.value, f.level.value), () => loadLogLevels());
	bindForm($('routeadd'), (f) => msapi.call('RouteAdd', f.account.value.trim(), f.domain.value.trim(), words(f.fromDomains.value),
		words(f.toDomains.value), Number(f.minAttempts.value), f.transport.value.trim()), () => { $('routeadd').reset(); return loadRoutes(); });
	$('queuefilter').addEventListener('submit', (ev) => {
		ev.preventDefault();
		const f = ev.target, flt = {};
		if (f.account.value.trim()) flt.account = f.account.value.trim();
		if (f.hold.value) flt.hold = f.hold.value === 'true';
		if (f.transport.value.trim()) flt.transport = f.transport.value.trim();
		queueState.filter = flt;
		queueState.offset = 0;
		pageQueue().catch((e) => { $('pageerror').textContent = e.message; });
	});
	for (const b of $('queueactions').querySelectorAll('button[data-act]')) {
		b.addEventListener('click', () => queueAction(b.dataset.act, $('queueactions')));
	}
	for (const b of $('hookactions').querySelectorAll('button[data-act]')) {
		b.addEventListener('click', async () => {
			const err = $('hookactions').querySelector('.error');
			err.textContent = '';
			const ids = hookTable ? hookTable.selected() : [];
			if (!ids.length) { err.textContent = 'Select webhook calls first.'; return; }
			try {
				if (b.dataset.act === 'now') await msapi.call('HookNextAttemptSet', ids, 0);
				else if (await confirmAction('Cancel ' + ids.length + ' webhook call(s)?')) await msapi.call('HookCancel', ids);
				await pageHooks();
			} catch (e) { err.textContent = e.message; }
		});
	}
	$('reportrange').addEventListener('submit', (ev) => {
		ev.preventDefault();
		const f = ev.target, err = f.querySelector('.error');
		err.textContent = '';
		const start = dayStart(f.start.value), end = dayStart(f.end.value) + DAY;
		if (!(end > start)) { err.textContent = 'The period must end on or after its first day.'; return; }
		Object.assign(reportState, { start, end, domain: f.domain.value.trim(), dmarcOffset: 0, tlsOffset: 0 });
		pageReports().catch((e) => { err.textContent = e.message; });
	});
	for (const k of ['DMARC', 'TLSRPT']) {
		const f = $(k.toLowerCase() + 'suppressadd');
		bindForm(f, (x) => msapi.call(k + 'SuppressAdd', x.address.value.trim(), dayStart(x.until.value) + DAY - 1, x.comment.value.trim()),
			() => { f.address.value = ''; f.comment.value = ''; return loadSuppressions(k); });
	}
	window.addEventListener('hashchange', route);
	route();
})();
