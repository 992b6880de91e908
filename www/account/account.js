// Account page: every setting of the account web interface, through the
// JSON API of api.js. DOM is built with createElement/textContent only
// (no HTML from data), destructive actions ask first, server errors are
// shown next to the form they belong to.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);
	const EVENTS = ['delivered', 'suppressed', 'delayed', 'failed', 'relayed', 'expanded', 'canceled', 'unrecognized'];
	let account = null;

	// h('td', {className: 'x'}, 'text', child...)
	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === 'dataset') Object.assign(el.dataset, v);
			else if (k in el) el[k] = v;
			else el.setAttribute(k, v);
		}
		for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(k === undefined || k === null ? '' : String(k)));
		return el;
	}
	function fill(tbody, rows, empty, cols) {
		tbody.replaceChildren();
		if (rows.length === 0) tbody.append(h('tr', {}, h('td', { colSpan: cols, className: 'hint' }, empty)));
		rows.forEach((r) => tbody.append(r));
	}
	// A table of items that sorts by clicking (or Enter on) a column
	// header and shows 50 rows a page. keys[i]: the sort value of column i
	// (none: not sortable).
	function pagedTable(tbody, items, render, keys, empty) {
		const table = tbody.closest('table'), size = 50;
		const ths = [...table.querySelectorAll('thead th')];
		const st = table.msState || (table.msState = { col: -1, asc: true, page: 0 });
		let pager = table.nextElementSibling;
		if (!pager || !pager.classList.contains('pager')) {
			pager = h('div', { className: 'pager' });
			table.after(pager);
		}
		function draw() {
			let list = items.slice();
			if (st.col >= 0 && keys[st.col]) {
				const k = keys[st.col];
				list.sort((a, b) => { const x = k(a), y = k(b); return (x < y ? -1 : x > y ? 1 : 0) * (st.asc ? 1 : -1); });
			}
			const pages = Math.max(1, Math.ceil(list.length / size));
			st.page = Math.min(st.page, pages - 1);
			fill(tbody, list.slice(st.page * size, (st.page + 1) * size).map(render), empty, ths.length);
			ths.forEach((th, i) => { th.ariaSort = i === st.col ? (st.asc ? 'ascending' : 'descending') : null; });
			pager.replaceChildren();
			if (pages > 1) {
				const prev = h('button', { type: 'button', disabled: st.page === 0 }, 'Previous');
				const next = h('button', { type: 'button', disabled: st.page === pages - 1 }, 'Next');
				prev.onclick = () => { st.page--; draw(); };
				next.onclick = () => { st.page++; draw(); };
				pager.append(prev, ' Page ' + (st.page + 1) + ' of ' + pages + ' ', next);
			}
		}
		ths.forEach((th, i) => {
			if (!keys[i]) return;
			th.tabIndex = 0;
			th.classList.add('sortable');
			const go = () => { st.asc = st.col === i ? !st.asc : true; st.col = i; draw(); };
			th.onclick = go;
			th.onkeydown = (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); go(); } };
		});
		draw();
	}
	function when(secs) { return secs ? new Date(secs * 1000).toLocaleString() : ''; }
	function status(form, text) { const s = form.querySelector('.status'); if (s) s.textContent = text; }
	function formError(form, text) { const e = form.querySelector('.error'); if (e) e.textContent = text || ''; }

	// Submit handler: clears messages, disables the button, shows errors
	// at the form (and marks the field named in the message, if any).
	function onSubmit(form, fn) {
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			formError(form, '');
			status(form, '');
			form.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
			const btn = form.querySelector('button[type=submit]');
			if (btn) btn.disabled = true;
			try {
				const msg = await fn(form);
				status(form, msg || 'Saved.');
			} catch (e) {
				formError(form, e.message);
			} finally {
				if (btn) btn.disabled = false;
			}
		});
	}
	function confirmDo(text) { return window.confirm(text); }

	// ---- account ----

	async function loadAccount() {
		account = await msapi.call('Account');
		$('name').textContent = account.name;
		$('addresslist').textContent = account.addresses.join(', ');
		$('fullnameform').fullName.value = account.fullName;
		const quota = account.quotaMessageSize > 0 ? ' of ' + (account.quotaMessageSize / 1048576).toFixed(1) + ' MiB' : '';
		$('usage').textContent = 'Storage used: ' + (account.diskUsage / 1048576).toFixed(1) + ' MiB' + quota + '.';
		const sel = $('keyform').loginAddress;
		sel.replaceChildren(...account.addresses.filter((a) => !a.startsWith('@')).map((a) => h('option', { value: a }, a)));
		sel.value = account.loginAddress;
	}

	onSubmit($('fullnameform'), async (f) => { await msapi.call('AccountSaveFullName', f.fullName.value); });
	onSubmit($('passwordform'), async (f) => {
		if (f.password.value.length < 8) { f.password.classList.add('invalid'); throw new Error('At least 8 characters.'); }
		await msapi.call('SetPassword', f.password.value);
		f.password.value = '';
		$('genshow').hidden = true;
		return 'Password changed.';
	});
	$('genpassword').addEventListener('click', async () => {
		const pw = await msapi.call('GeneratePassword');
		$('passwordform').password.value = pw;
		$('genvalue').textContent = pw;
		$('genshow').hidden = false;
	});

	// ---- addresses and rulesets ----

	const RS_TEXT = [
		['smtpMailFromRegexp', 'SMTP MAIL FROM matches'],
		['msgFromRegexp', 'Message From matches'],
		['verifiedDomain', 'Verified domain (SPF/DKIM)'],
		['mailbox', 'Deliver to mailbox'],
		['listAllowDomain', 'Mailing list: allow when this domain is verified'],
		['acceptRejectsToMailbox', 'Junk: accept into this mailbox instead of rejecting'],
		['comment', 'Comment'],
	];

	function headersText(obj) { return Object.entries(obj || {}).map(([k, v]) => k + ': ' + v).join('\n'); }
	function headersParse(text, fs) {
		const out = {};
		for (const line of text.split('\n')) {
			if (!line.trim()) continue;
			const i = line.indexOf(':');
			if (i <= 0) throw new Error(fs + ': header conditions are lines "field regexp: value regexp"');
			out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
		}
		return out;
	}

	function rulesetEditor(rs, list) {
		const fs = h('fieldset', { className: 'ruleset' }, h('legend', {}, 'Ruleset'));
		const grid = h('div', { className: 'grid2' });
		for (const [k, label] of RS_TEXT) {
			const input = h('input', { name: k, value: rs[k] || '' });
			if (k === 'mailbox') input.required = true;
			grid.append(h('label', {}, label, input));
		}
		fs.append(grid);
		fs.append(h('label', {}, 'Header conditions, one "field: value" regexp pair a line (lower case)',
			h('textarea', { name: 'headersRegexp', rows: 2, value: headersText(rs.headersRegexp) })));
		fs.append(h('label', { className: 'check' }, h('input', { type: 'checkbox', name: 'isForward', checked: !!rs.isForward }),
			'Forwarded to us (needs MAIL FROM and verified domain)'));
		const up = h('button', { type: 'button' }, 'Move up');
		const down = h('button', { type: 'button' }, 'Move down');
		const rm = h('button', { type: 'button', className: 'danger' }, 'Remove');
		up.addEventListener('click', () => { if (fs.previousElementSibling) list.insertBefore(fs, fs.previousElementSibling); number(list); });
		down.addEventListener('click', () => { if (fs.nextElementSibling) list.insertBefore(fs.nextElementSibling, fs); number(list); });
		rm.addEventListener('click', () => { if (confirmDo('Remove this ruleset? It is gone once you save.')) { fs.remove(); number(list); } });
		fs.append(h('div', { className: 'rowbuttons' }, up, down, rm));
		return fs;
	}
	function number(list) { [...list.children].forEach((fs, i) => { fs.querySelector('legend').textContent = 'Ruleset ' + (i + 1); }); }

	function readRulesets(list) {
		return [...list.children].map((fs, i) => {
			const rs = {};
			for (const [k] of RS_TEXT) rs[k] = fs.querySelector('[name=' + k + ']').value.trim();
			rs.headersRegexp = headersParse(fs.querySelector('[name=headersRegexp]').value, 'Ruleset ' + (i + 1));
			rs.isForward = fs.querySelector('[name=isForward]').checked;
			// The same checks as the server, so errors show before saving.
			const mb = fs.querySelector('[name=mailbox]');
			if (!rs.mailbox) { mb.classList.add('invalid'); throw new Error('Ruleset ' + (i + 1) + ': a mailbox is required.'); }
			if (!rs.smtpMailFromRegexp && !rs.msgFromRegexp && !rs.verifiedDomain && Object.keys(rs.headersRegexp).length === 0) {
				throw new Error('Ruleset ' + (i + 1) + ': needs at least one condition.');
			}
			return rs;
		});
	}

	function markRuleset(list, message) {
		const m = /ruleset (\d+)/i.exec(message);
		if (m && list.children[m[1] - 1]) list.children[m[1] - 1].classList.add('invalid');
	}

	async function loadDestinations() {
		const dests = await msapi.call('Destinations');
		const box = $('destinations');
		box.replaceChildren();
		for (const d of dests) {
			const list = h('div', {});
			d.rulesets.forEach((rs) => list.append(rulesetEditor(rs, list)));
			number(list);
			const form = h('form', {},
				h('p', { className: 'error', role: 'alert' }),
				h('div', { className: 'grid2' },
					h('label', {}, 'Default mailbox', h('input', { name: 'defaultMailbox', value: d.mailbox })),
					h('label', {}, 'Full name for this address', h('input', { name: 'addressFullName', value: d.fullName, maxLength: 200 }))),
				d.smtpError ? h('p', { className: 'hint' }, 'Incoming mail is refused: ' + d.smtpError) : '',
				list);
			const add = h('button', { type: 'button' }, 'Add ruleset');
			add.addEventListener('click', () => { const fs = rulesetEditor({}, list); list.append(fs); number(list); fs.querySelector('input').focus(); });
			form.append(h('div', { className: 'rowbuttons' }, add, h('button', { type: 'submit' }, 'Save'), h('span', { className: 'status', role: 'status' })));
			onSubmit(form, async () => {
				list.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
				const rulesets = readRulesets(list);
				try {
					// Named apart from the rulesets' own "mailbox" fields.
					await msapi.call('DestinationSave', d.address, { mailbox: form.elements.defaultMailbox.value.trim(),
						fullName: form.elements.addressFullName.value, rulesets });
				} catch (e) { markRuleset(list, e.message); throw e; }
			});
			box.append(h('details', { className: 'dest', open: dests.length === 1 },
				h('summary', {}, d.address + ' → ' + d.mailbox + ' (' + d.rulesets.length + ' rulesets)'), form));
		}
	}

	// ---- aliases ----

	async function loadAliases() {
		const aliases = await msapi.call('Aliases');
		fill($('aliasrows'), aliases.map((a) => h('tr', {},
			h('td', {}, a.address), h('td', {}, a.memberAddresses.join(', ')),
			h('td', {}, a.listMembers ? a.members.join(', ') : '(not listed)'),
			h('td', {}, a.postPublic ? 'yes' : 'members only'))), 'You are not a member of any alias.', 4);
	}

	// ---- TLS public keys ----

	async function loadKeys() {
		const keys = await msapi.call('TLSPublicKeys');
		fill($('keyrows'), keys.map((k) => {
			const rm = h('button', { type: 'button', className: 'danger' }, 'Remove');
			rm.addEventListener('click', async () => {
				if (!confirmDo('Remove key "' + k.name + '"? Clients using it can no longer log in with it.')) return;
				try { await msapi.call('TLSPublicKeyRemove', k.fingerprint); await loadKeys(); } catch (e) { formError($('keyform'), e.message); }
			});
			const pre = h('input', { type: 'checkbox', checked: k.noIMAPPreauth, title: 'No IMAP PREAUTH' });
			pre.addEventListener('change', async () => {
				try { await msapi.call('TLSPublicKeyUpdate', { fingerprint: k.fingerprint, noIMAPPreauth: pre.checked }); } catch (e) { formError($('keyform'), e.message); pre.checked = !pre.checked; }
			});
			return h('tr', {}, h('td', {}, k.name), h('td', {}, k.type), h('td', {}, k.loginAddress), h('td', {}, pre),
				h('td', {}, h('code', {}, k.fingerprint)), h('td', {}, rm));
		}), 'No keys.', 6);
	}
	$('keyform').certFile.addEventListener('change', async (ev) => {
		const f = ev.target.files[0];
		if (f) $('keyform').certPEM.value = await f.text();
	});
	onSubmit($('keyform'), async (f) => {
		if (!f.certPEM.value.includes('BEGIN CERTIFICATE')) { f.certPEM.classList.add('invalid'); throw new Error('Paste a PEM certificate (-----BEGIN CERTIFICATE-----).'); }
		const k = await msapi.call('TLSPublicKeyAdd', f.loginAddress.value, f.name.value.trim(), f.noIMAPPreauth.checked, f.certPEM.value);
		f.certPEM.value = '';
		f.name.value = '';
		await loadKeys();
		return 'Added ' + k.type + ' key "' + k.name + '".';
	});

	// ---- settings: webhooks, fromid, retired, rejects, junk ----

	let settings = null;
	function setPeriod(input, unit, secs) {
		if (secs % 86400 === 0) { unit.value = '86400'; input.value = secs / 86400; } else { unit.value = '3600'; input.value = Math.round(secs / 3600); }
	}

	async function loadSettings() {
		settings = await msapi.call('Settings');
		const o = $('outhookform'), i = $('inhookform');
		o.url.value = settings.outgoingWebhook.url;
		o.authorization.value = settings.outgoingWebhook.authorization;
		$('events').replaceChildren(...EVENTS.map((e) => h('label', { className: 'check' },
			h('input', { type: 'checkbox', name: 'event', value: e, checked: (settings.outgoingWebhook.events || []).includes(e) }), e)));
		i.url.value = settings.incomingWebhook.url;
		i.authorization.value = settings.incomingWebhook.authorization;
		const own = account.addresses.filter((a) => !a.startsWith('@'));
		$('fromids').replaceChildren(...own.map((a) => h('label', { className: 'check' },
			h('input', { type: 'checkbox', name: 'addr', value: a, checked: (settings.fromIDLoginAddresses || []).includes(a) }), a)));
		const r = $('retiredform');
		setPeriod(r.msg, r.msgunit, settings.keepRetiredMessagePeriod);
		setPeriod(r.hook, r.hookunit, settings.keepRetiredWebhookPeriod);
		$('limits').textContent = 'Limits: ' + settings.maxOutgoingMessagesPerDay + ' recipients and ' +
			settings.maxFirstTimeRecipientsPerDay + ' new recipients a day (set by the administrator).';
		$('rejectsform').mailbox.value = settings.rejectsMailbox;
		$('rejectsform').keep.checked = settings.keepRejects;
		const j = $('junkform'), jf = settings.junkFilter;
		j.enabled.checked = !!jf;
		const dflt = { threshold: 0.95, onegrams: true, twograms: true, threegrams: false, maxPower: 0.01, topWords: 10, ignoreWords: 0.1, rareWords: 2 };
		for (const [k, v] of Object.entries(jf || dflt)) {
			if (typeof v === 'boolean') j[k].checked = v; else j[k].value = v;
		}
		$('junkfields').hidden = !jf;
	}
	$('junkform').enabled.addEventListener('change', (ev) => { $('junkfields').hidden = !ev.target.checked; });

	onSubmit($('outhookform'), async (f) => {
		const events = [...f.querySelectorAll('[name=event]:checked')].map((c) => c.value);
		await msapi.call('OutgoingWebhookSave', f.url.value.trim(), f.authorization.value, events);
	});
	onSubmit($('inhookform'), async (f) => { await msapi.call('IncomingWebhookSave', f.url.value.trim(), f.authorization.value); });
	onSubmit($('fromidform'), async (f) => {
		await msapi.call('FromIDLoginAddressesSave', [...f.querySelectorAll('[name=addr]:checked')].map((c) => c.value));
	});
	onSubmit($('retiredform'), async (f) => {
		const m = Number(f.msg.value) * Number(f.msgunit.value), w = Number(f.hook.value) * Number(f.hookunit.value);
		if (!Number.isInteger(m) || m < 0) { f.msg.classList.add('invalid'); throw new Error('Enter a whole number, 0 or more.'); }
		if (!Number.isInteger(w) || w < 0) { f.hook.classList.add('invalid'); throw new Error('Enter a whole number, 0 or more.'); }
		await msapi.call('KeepRetiredPeriodsSave', m, w);
	});
	onSubmit($('rejectsform'), async (f) => { await msapi.call('RejectsSave', f.mailbox.value.trim(), f.keep.checked); });
	onSubmit($('junkform'), async (f) => {
		if (!f.enabled.checked) {
			if (settings.junkFilter && !confirmDo('Turn off the junk filter?')) return 'Not changed.';
			await msapi.call('JunkFilterSave', null);
			settings.junkFilter = null;
			return 'Junk filter off.';
		}
		const jf = {};
		for (const k of ['onegrams', 'twograms', 'threegrams']) jf[k] = f[k].checked;
		for (const k of ['threshold', 'maxPower', 'topWords', 'ignoreWords', 'rareWords']) {
			if (f[k].value === '' || !f[k].checkValidity()) { f[k].classList.add('invalid'); throw new Error(k + ': out of range.'); }
			jf[k] = Number(f[k].value);
		}
		await msapi.call('JunkFilterSave', jf);
		settings.junkFilter = jf;
	});

	// ---- suppressions ----

	async function loadSuppressions() {
		const list = await msapi.call('SuppressionList');
		pagedTable($('supprows'), list, (s) => {
			const rm = h('button', { type: 'button', className: 'danger' }, 'Remove');
			rm.addEventListener('click', async () => {
				if (!confirmDo('Remove ' + s.originalAddress + ' from the suppression list? Mail to it will be delivered again.')) return;
				try { await msapi.call('SuppressionRemove', s.originalAddress); await loadSuppressions(); } catch (e) { formError($('suppform'), e.message); }
			});
			return h('tr', {}, h('td', {}, s.originalAddress), h('td', {}, when(s.created)), h('td', {}, s.manual ? 'yes' : 'no'),
				h('td', {}, s.reason), h('td', {}, rm));
		}, [(s) => s.baseAddress, (s) => s.created, (s) => s.manual, (s) => s.reason], 'No suppressed addresses.');
	}
	onSubmit($('suppform'), async (f) => {
		if (!f.address.checkValidity()) { f.address.classList.add('invalid'); throw new Error('Enter an email address.'); }
		await msapi.call('SuppressionAdd', f.address.value.trim(), true, f.reason.value);
		f.address.value = '';
		f.reason.value = '';
		await loadSuppressions();
		return 'Added.';
	});

	// ---- import and export ----

	const csrfKey = 'mailstead-csrf:' + location.pathname.replace(/[^/]*$/, '');
	let importToken = null;

	onSubmit($('importform'), async (f) => {
		const file = f.file.files[0];
		if (!file) throw new Error('Choose a .zip or .tgz file.');
		await msapi.call('Account'); // logs in first when the session is gone
		const resp = await fetch('import', { method: 'POST', body: file, credentials: 'same-origin',
			headers: { 'x-mailstead-csrf': localStorage.getItem(csrfKey) || '', 'Content-Type': 'application/octet-stream' } });
		let body;
		try { body = await resp.json(); } catch (e) { throw new Error('Upload failed: HTTP ' + resp.status + (resp.status === 413 ? ' (file too large)' : '')); }
		if (body.error) throw new Error(body.error.message);
		importToken = body.result.importToken;
		const prog = $('importprogress'), problems = $('importproblems');
		problems.replaceChildren();
		prog.hidden = false;
		prog.removeAttribute('value');
		$('importabort').hidden = false;
		const es = new EventSource('importprogress?token=' + encodeURIComponent(importToken));
		const finish = (text) => { es.close(); status(f, text); $('importabort').hidden = true; importToken = null; };
		es.addEventListener('start', (ev) => { const d = JSON.parse(ev.data); prog.max = Math.max(d.messages, 1); prog.value = 0; status(f, d.messages + ' messages found.'); });
		es.addEventListener('count', (ev) => { const d = JSON.parse(ev.data); prog.value = d.total; status(f, d.total + ' imported (' + d.mailbox + ': ' + d.count + ')'); });
		es.addEventListener('problem', (ev) => { problems.append(h('li', {}, JSON.parse(ev.data).message)); });
		es.addEventListener('done', (ev) => { const d = JSON.parse(ev.data); prog.value = prog.max; finish('Done: ' + d.total + ' messages in ' + d.mailboxes + ' mailboxes.'); });
		es.addEventListener('aborted', (ev) => { finish('Aborted after ' + JSON.parse(ev.data).total + ' messages.'); });
		es.addEventListener('error', (ev) => {
			if (ev.data) { formError(f, JSON.parse(ev.data).message); finish('Import failed; nothing more was stored.'); }
			else if (es.readyState === EventSource.CLOSED) finish('Connection lost.');
		});
		return 'Uploaded, importing…';
	});
	$('importabort').addEventListener('click', async () => {
		if (!importToken || !confirmDo('Abort the import? Messages already imported stay.')) return;
		try { await msapi.call('ImportAbort', importToken); } catch (e) { formError($('importform'), e.message); }
	});
	$('exportform').addEventListener('submit', (ev) => {
		ev.target.csrf.value = localStorage.getItem(csrfKey) || '';
	});

	// ---- login attempts ----

	async function loadLogins() {
		const list = await msapi.call('LoginAttempts', 500);
		pagedTable($('loginrows'), list, (a) => h('tr', {}, h('td', {}, when(a.last)), h('td', {}, a.count), h('td', {}, a.loginAddress),
			h('td', {}, a.protocol), h('td', {}, a.authMech), h('td', {}, a.remoteIP), h('td', {}, a.result)),
		[(a) => a.last, (a) => a.count, (a) => a.loginAddress, (a) => a.protocol, (a) => a.authMech, (a) => a.remoteIP, (a) => a.result], 'None.');
	}

	// ---- start ----

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), true));
	$('logout').addEventListener('click', async () => {
		await msapi.logout();
		location.reload();
	});

	async function load() {
		await loadAccount();
		$('content').hidden = false;
		$('sections').hidden = false;
		$('logout').hidden = false;
		await Promise.all([loadDestinations(), loadAliases(), loadKeys(), loadSettings(), loadSuppressions(), loadLogins()]);
	}
	load().catch((e) => { $('pageerror').textContent = 'Error: ' + e.message; });
})();
