// Webmail page: mailboxes, message list and message view, compose, over
// the JSON API of api.js (methods and values: fcgi/webmail/
// webmail_private.h) and the change events of /webmail/events. DOM is
// built with createElement/textContent only; message HTML is shown only
// in a sandboxed iframe loaded from the server.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);

	// h('td', {className: 'x'}, 'text', child...)
	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === 'dataset') Object.assign(el.dataset, v);
			else if (k in el) el[k] = v;
			else el.setAttribute(k, v);
		}
		for (const k of kids) {
			if (k === undefined || k === null || k === false) continue;
			el.append(k instanceof Node ? k : document.createTextNode(String(k)));
		}
		return el;
	}

	// ---- state ----

	const st = {
		account: '', loginAddress: '', fullName: '', addresses: [],
		mailboxes: [], settings: null,
		mailboxID: 0, everywhere: false, search: '', unread: false,
		messages: [], hasMore: false, total: 0, loading: false,
		selected: 0, parsed: null, checked: new Set(),
		es: null, started: false,
	};
	const PAGE = 50;

	function showError(el, e) { el.textContent = e ? (e.message || String(e)) : ''; }
	function pageError(e) { showError($('pageerror'), e); }
	function msgError(e) { showError($('msgerror'), e); }

	const mbByID = (id) => st.mailboxes.find((m) => m.id === id);
	const mbByUse = (use) => st.mailboxes.find((m) => m.specialUse === use);
	const inbox = () => st.mailboxes.find((m) => m.name.toLowerCase() === 'inbox');
	const hasFlag = (m, f) => (m.flags || []).includes(f);

	function when(secs) {
		if (!secs) return '';
		const d = new Date(secs * 1000), now = new Date();
		if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
		if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
		return d.toLocaleDateString();
	}
	function fullDate(secs) { return secs ? new Date(secs * 1000).toLocaleString() : ''; }
	function addrText(a) { return a.name ? a.name + ' <' + a.address + '>' : a.address; }
	function addrShort(a) { return a.name || a.address; }
	function addrList(l) { return (l || []).map(addrText).join(', '); }
	function ownAddresses() { return st.addresses.filter((a) => !a.startsWith('@')); }
	function isOwn(address) {
		const a = address.toLowerCase();
		return st.addresses.some((x) => x.toLowerCase() === a || (x.startsWith('@') && a.endsWith(x.toLowerCase())));
	}

	// ---- view switching (narrow screens show one pane) ----

	function setView(v) { $('panes').dataset.view = v; }

	// ---- mailboxes ----

	function mbLabel(m) {
		const parts = m.name.split('/');
		return parts[parts.length - 1];
	}
	function mbDepth(m) { return m.name.split('/').length - 1; }

	function renderMailboxes() {
		const ul = $('mailboxes');
		ul.replaceChildren();
		const sorted = st.mailboxes.slice().sort((a, b) => {
			const ai = a.name.toLowerCase() === 'inbox' ? 0 : 1, bi = b.name.toLowerCase() === 'inbox' ? 0 : 1;
			return ai - bi || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
		});
		for (const m of sorted) {
			const btn = h('button', { type: 'button', className: 'mailbox' + (m.id === st.mailboxID ? ' selected' : ''), dataset: { id: m.id } },
				h('span', { className: 'mbname' }, mbLabel(m)),
				m.unread ? h('span', { className: 'count', ariaLabel: m.unread + ' unread' }, m.unread) : null);
			btn.style.paddingLeft = (0.5 + mbDepth(m)) + 'rem';
			if (m.id === st.mailboxID) btn.setAttribute('aria-current', 'true');
			btn.title = m.name + (m.specialUse ? ' (' + m.specialUse + ')' : '') + ': ' + m.total + ' messages, ' + m.unread + ' unread';
			btn.addEventListener('click', () => { selectMailbox(m.id); setView('list'); });
			// Messages dragged from the list move here.
			btn.addEventListener('dragover', (ev) => {
				if (!ev.dataTransfer.types.includes('application/x-mailstead-message')) return;
				ev.preventDefault();
				btn.classList.add('droptarget');
			});
			btn.addEventListener('dragleave', () => btn.classList.remove('droptarget'));
			btn.addEventListener('drop', (ev) => {
				ev.preventDefault();
				btn.classList.remove('droptarget');
				const id = Number(ev.dataTransfer.getData('application/x-mailstead-message'));
				const msg = st.messages.find((x) => x.id === id);
				if (!msg) return;
				// Dragging a checked message moves all checked ones.
				act(() => moveByHand(st.checked.has(id) ? targets() : [msg], m.id));
			});
			ul.append(h('li', {}, btn));
		}
		const cur = mbByID(st.mailboxID);
		$('listtitle').textContent = cur && !st.everywhere ? cur.name : 'All mailboxes';
		const unreadTotal = st.mailboxes.filter((m) => m.specialUse !== 'junk' && m.specialUse !== 'trash').reduce((n, m) => n + m.unread, 0);
		document.title = (unreadTotal ? '(' + unreadTotal + ') ' : '') + (cur ? cur.name + ' - ' : '') + 'Mailstead webmail';
		const sel = $('moveto');
		const keep = sel.value;
		sel.replaceChildren(h('option', { value: '' }, '...'), ...sorted.map((m) => h('option', { value: m.id }, m.name)));
		sel.value = keep;
	}

	function selectMailbox(id) {
		if (id !== st.mailboxID || st.everywhere) clearMessage();
		st.mailboxID = id;
		st.everywhere = false;
		$('everywhere').checked = false;
		renderMailboxes();
		loadList();
	}

	// ---- message list ----

	// The mailbox the list shows: 0 for all (but Junk and Trash) when
	// searching everywhere.
	function listMailbox() { return st.everywhere ? 0 : st.mailboxID; }
	function query() { return { mailboxID: listMailbox(), search: st.search, unread: st.unread, flagged: false }; }

	let listGen = 0;
	async function loadList(more) {
		const gen = more ? listGen : ++listGen;
		const anchor = more && st.messages.length ? st.messages[st.messages.length - 1].id : 0;
		$('liststatus').textContent = 'Loading...';
		$('loadmore').disabled = true;
		try {
			const r = await msapi.call('Request', query(), { anchorMessageID: anchor, count: PAGE });
			if (gen !== listGen) return;
			if (!more && st.checked.size) { st.checked.clear(); clearMessage(); }
			st.messages = more ? st.messages.concat(r.messages || []) : (r.messages || []);
			st.hasMore = r.hasMore;
			st.total = r.total;
			renderList();
		} catch (e) {
			if (gen === listGen) $('liststatus').textContent = 'Error: ' + e.message;
		} finally {
			$('loadmore').disabled = false;
		}
	}

	function listStatus() {
		const n = st.messages.length;
		$('liststatus').textContent = n === 0 ? (st.search || st.unread ? 'No matching messages.' : 'No messages.') :
			n + ' of ' + st.total + ' message' + (st.total === 1 ? '' : 's');
		$('loadmore').hidden = !st.hasMore;
	}

	function messageRow(m) {
		const unread = !hasFlag(m, '\\Seen');
		const from = listMailbox() && ['sent', 'drafts'].includes((mbByID(st.mailboxID) || {}).specialUse) ?
			'To: ' + (m.to || []).map(addrShort).join(', ') : (m.from || []).map(addrShort).join(', ');
		const li = h('li', {
			role: 'option', id: 'msg-' + m.id, tabIndex: -1, dataset: { id: m.id },
			className: 'msgrow' + (unread ? ' unread' : '') + (hasFlag(m, '\\Flagged') ? ' flagged' : '') + (m.id === st.selected ? ' selected' : '') + (st.checked.has(m.id) ? ' checked' : ''),
		},
		h('span', { className: 'from' }, from || '(no sender)'),
		h('span', { className: 'date', title: fullDate(m.received) }, when(m.date || m.received)),
		h('span', { className: 'subject' },
			hasFlag(m, '\\Flagged') ? h('span', { className: 'flagmark', ariaLabel: 'flagged' }, '\u2691 ') : null,
			m.attachments ? h('span', { className: 'clip', title: m.attachments + ' attachment' + (m.attachments === 1 ? '' : 's') }, '+' + m.attachments) : null,
			m.subject || '(no subject)'),
		h('span', { className: 'preview' },
			listMailbox() ? null : h('span', { className: 'mbbadge' }, (mbByID(m.mailboxID) || { name: '?' }).name),
			m.preview || ''));
		li.setAttribute('aria-selected', m.id === st.selected ? 'true' : 'false');
		li.setAttribute('aria-label', (unread ? 'unread, ' : '') + (from || '') + ', ' + (m.subject || '(no subject)'));
		li.addEventListener('click', (ev) => {
			if (ev.ctrlKey || ev.metaKey) check(m.id, 'toggle');
			else if (ev.shiftKey) check(m.id, 'range');
			else { uncheckAll(); openMessage(m.id); }
		});
		li.draggable = true;
		li.addEventListener('dragstart', (ev) => {
			ev.dataTransfer.setData('application/x-mailstead-message', String(m.id));
			ev.dataTransfer.effectAllowed = 'move';
		});
		return li;
	}

	// Several messages: ctrl/cmd-click adds or removes one, shift-click a
	// range from the open (or last checked) one; actions then apply to all.
	let lastChecked = 0;
	function check(id, how) {
		if (st.checked.size === 0 && st.selected) st.checked.add(st.selected);
		if (how === 'range') {
			const ids = st.messages.map((m) => m.id);
			const a = ids.indexOf(lastChecked || st.selected), b = ids.indexOf(id);
			if (a < 0) st.checked.add(id);
			else for (let i = Math.min(a, b); i <= Math.max(a, b); i++) st.checked.add(ids[i]);
		} else if (st.checked.has(id)) st.checked.delete(id);
		else st.checked.add(id);
		lastChecked = id;
		document.querySelectorAll('#messages .msgrow').forEach((li) => li.classList.toggle('checked', st.checked.has(Number(li.dataset.id))));
		if (st.checked.size === 0) { clearMessage(); return; }
		multiState();
	}
	function uncheckAll(keepView) {
		if (!st.checked.size) return;
		st.checked.clear();
		lastChecked = 0;
		document.querySelectorAll('#messages .msgrow.checked').forEach((li) => li.classList.remove('checked'));
		if (!st.parsed && !keepView) clearMessage();
	}
	// After an action on several messages: none checked, none open.
	function endMulti() {
		uncheckAll(true);
		clearMessage();
	}
	// The message pane for several checked messages.
	function multiState() {
		const ms = targets();
		openGen++;
		st.parsed = null;
		st.selected = 0;
		$('msgtoolbar').hidden = false;
		for (const id of ['reply', 'replyall', 'forward', 'editdraft', 'mute']) $(id).hidden = true;
		const mb = mbByID(st.mailboxID) || {};
		$('markunread').textContent = ms.some((m) => !hasFlag(m, '\\Seen')) ? 'Mark read' : 'Mark unread';
		$('flag').textContent = ms.some((m) => !hasFlag(m, '\\Flagged')) ? 'Flag' : 'Unflag';
		$('junk').hidden = mb.specialUse === 'junk';
		$('notjunk').hidden = mb.specialUse !== 'junk';
		$('archive').hidden = !mbByUse('archive') || mb.specialUse === 'archive';
		$('delete').textContent = 'Delete';
		$('moveto').value = '';
		$('msgview').replaceChildren(h('p', {}, ms.length + (ms.length === 1 ? ' message' : ' messages') + ' selected.'),
			h('p', { className: 'hint' }, 'Ctrl-click (Cmd-click) adds or removes a message, shift-click a range; the actions above apply to all of them.'));
	}

	function renderList() {
		$('messages').replaceChildren(...st.messages.map(messageRow));
		listStatus();
	}

	function updateRow(m) {
		const old = $('msg-' + m.id);
		if (old) old.replaceWith(messageRow(m));
	}

	// Whether a new message belongs in the list shown.
	function inView(m) {
		if (st.search) return false; // the server decides: reload
		if (st.unread && hasFlag(m, '\\Seen')) return false;
		if (listMailbox()) return m.mailboxID === st.mailboxID;
		const mb = mbByID(m.mailboxID);
		return !mb || (mb.specialUse !== 'junk' && mb.specialUse !== 'trash');
	}

	// ---- message view ----

	function headerRow(name, value) {
		if (!value) return null;
		return h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value));
	}

	let openGen = 0;
	async function openMessage(id) {
		uncheckAll(true);
		const gen = ++openGen;
		st.selected = id;
		document.querySelectorAll('#messages .msgrow').forEach((li) => {
			const on = Number(li.dataset.id) === id;
			li.classList.toggle('selected', on);
			li.setAttribute('aria-selected', on ? 'true' : 'false');
		});
		const row = $('msg-' + id);
		if (row) row.scrollIntoView({ block: 'nearest' });
		$('messages').setAttribute('aria-activedescendant', 'msg-' + id);
		msgError(null);
		setView('message');
		$('msgview').replaceChildren(h('p', { className: 'hint' }, 'Loading...'));
		try {
			const pm = await msapi.call('ParsedMessage', id);
			if (gen !== openGen) return;
			st.parsed = pm;
			renderMessage(pm);
			if (!hasFlag(pm.item, '\\Seen')) {
				await msapi.call('FlagsAdd', [id], ['\\Seen']);
				setLocalFlags(id, (pm.item.flags || []).concat(['\\Seen']));
			}
		} catch (e) {
			if (gen !== openGen) return;
			$('msgview').replaceChildren();
			msgError(e);
		}
	}

	function setLocalFlags(id, flags) {
		const m = st.messages.find((x) => x.id === id);
		if (m) { m.flags = flags; updateRow(m); }
		if (st.parsed && st.parsed.item.id === id) { st.parsed.item.flags = flags; toolbarState(); }
	}

	function toolbarState() {
		const pm = st.parsed;
		$('msgtoolbar').hidden = !pm;
		if (!pm) return;
		for (const id of ['reply', 'replyall', 'forward', 'mute']) $(id).hidden = false;
		const m = pm.item, mb = mbByID(m.mailboxID) || {};
		$('markunread').textContent = hasFlag(m, '\\Seen') ? 'Mark unread' : 'Mark read';
		$('flag').textContent = hasFlag(m, '\\Flagged') ? 'Unflag' : 'Flag';
		$('flag').setAttribute('aria-pressed', hasFlag(m, '\\Flagged') ? 'true' : 'false');
		$('junk').hidden = mb.specialUse === 'junk';
		$('notjunk').hidden = mb.specialUse !== 'junk';
		$('archive').hidden = !mbByUse('archive') || mb.specialUse === 'archive';
		$('delete').textContent = mb.specialUse === 'trash' || !mbByUse('trash') ? 'Delete for good' : 'Delete';
		$('editdraft').hidden = mb.specialUse !== 'drafts';
		$('mute').textContent = m.threadMuted ? 'Unmute thread' : 'Mute thread';
		$('mute').setAttribute('aria-pressed', m.threadMuted ? 'true' : 'false');
		$('moveto').value = '';
	}

	function renderMessage(pm) {
		const m = pm.item;
		const view = $('msgview');
		view.replaceChildren();
		toolbarState();
		view.append(h('h2', { className: 'msgsubject' }, m.subject || '(no subject)'));
		view.append(h('table', { className: 'msgheaders' }, h('tbody', {},
			headerRow('From', addrList(m.from)),
			m.replyTo && m.replyTo.length ? headerRow('Reply-To', addrList(m.replyTo)) : null,
			headerRow('To', addrList(m.to)),
			headerRow('Cc', addrList(m.cc)),
			headerRow('Bcc', addrList(m.bcc)),
			headerRow('Date', fullDate(m.date || m.received)),
			...((st.settings && st.settings.showHeaders) || []).map((name) =>
				headerRow(name, ((pm.headers || {})[name.toLowerCase()] || []).join(', '))))));

		const links = h('p', { className: 'msglinks' },
			h('a', { href: 'msg/' + m.id + '/raw', target: '_blank', rel: 'noopener' }, 'Raw message'));
		if (pm.listUnsubscribe && /^https:\/\//i.test(pm.listUnsubscribe)) {
			links.append(' ', h('a', { href: pm.listUnsubscribe, target: '_blank', rel: 'noopener noreferrer' }, 'Unsubscribe'));
		}
		view.append(links);

		if (pm.attachments && pm.attachments.length) {
			const ul = h('ul', { className: 'attachments', ariaLabel: 'Attachments' });
			for (const a of pm.attachments) {
				// Route paths start at the message: "0" is the root, "0.1" its second part.
				const p = ['0', ...a.path].join('.');
				ul.append(h('li', {},
					h('a', { href: 'msg/' + m.id + '/download/' + p, download: a.filename || ('attachment-' + p) },
						a.filename || '(unnamed ' + a.contentType + ')'),
					' ', h('span', { className: 'hint' }, a.contentType + ', ' + size(a.size))));
			}
			if (pm.attachments.length > 1) {
				ul.append(h('li', {}, h('a', { href: 'msg/' + m.id + '/attachments.zip', download: 'attachments.zip' }, 'All attachments (zip)')));
			}
			view.append(ul);
		}

		const body = h('div', { className: 'msgbody' });
		view.append(htmlControls(pm, body), body);
		let mode = pm.viewMode || 'text';
		if (mode === 'text' && st.settings && st.settings.showHTML && pm.hasHTML) mode = 'html';
		if (!pm.hasHTML) mode = 'text';
		showBody(pm, body, mode);
	}

	function size(n) {
		if (n < 1024) return n + ' B';
		if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
		return (n / 1048576).toFixed(1) + ' MiB';
	}

	function htmlControls(pm, body) {
		const box = h('div', { className: 'htmlcontrols' });
		if (!pm.hasHTML) return box;
		const id = pm.item.id;
		const from = (pm.item.from || [])[0];
		const text = h('button', { type: 'button', id: 'showtext' }, 'Text');
		const html = h('button', { type: 'button', id: 'showhtml' }, 'Show HTML');
		const ext = h('button', { type: 'button', id: 'showexternal', title: 'Lets the sender see that and when you read the message' }, 'HTML with external content');
		const remember = h('input', { type: 'checkbox', id: 'rememberview' });
		const status = h('span', { className: 'status', role: 'status' });
		text.addEventListener('click', () => { showBody(pm, body, 'text'); save('text'); });
		html.addEventListener('click', () => { showBody(pm, body, 'html'); save('html'); });
		ext.addEventListener('click', () => { showBody(pm, body, 'htmlexternal'); save('htmlexternal'); });
		async function save(mode) {
			if (!remember.checked || !from) return;
			try {
				await msapi.call('FromAddressSettingsSave', { fromAddress: from.address, viewMode: mode });
				status.textContent = 'Remembered for ' + from.address + '.';
			} catch (e) { status.textContent = 'Error: ' + e.message; }
		}
		box.append(text, ' ', html, ' ', ext, ' ');
		if (from) box.append(h('label', { className: 'check inlinecheck' }, remember, 'Remember for ' + from.address), ' ');
		box.append(status);
		return box;
	}

	function showBody(pm, body, mode) {
		body.replaceChildren();
		body.dataset.mode = mode;
		document.querySelectorAll('.htmlcontrols button').forEach((b) => {
			const on = (b.id === 'showtext' && mode === 'text') || (b.id === 'showhtml' && mode === 'html') || (b.id === 'showexternal' && mode === 'htmlexternal');
			b.setAttribute('aria-pressed', on ? 'true' : 'false');
		});
		if (mode === 'text') {
			body.append(h('pre', { className: 'msgtext' }, pm.text || (pm.hasHTML ? '(This message has only an HTML version.)' : '(no text)')));
			return;
		}
		// sandbox="" : no scripts, no forms, no top navigation, a unique origin.
		const frame = h('iframe', { className: 'msghtml', title: 'Message (HTML)', src: 'msg/' + pm.item.id + '/' + mode });
		frame.setAttribute('sandbox', '');
		body.append(frame);
	}

	// ---- actions on the open message ----

	function current() { return st.parsed ? st.parsed.item : null; }

	async function act(fn) {
		msgError(null);
		try { await fn(); } catch (e) { msgError(e); }
	}

	// Remove a message from the list; when it is the open one, open the
	// next (after our own delete or move) or show none (changed elsewhere).
	function dropFromList(id, openNext = true) {
		const i = st.messages.findIndex((x) => x.id === id);
		if (i < 0) return;
		st.messages.splice(i, 1);
		st.total = Math.max(0, st.total - 1);
		const row = $('msg-' + id);
		if (row) row.remove();
		st.checked.delete(id);
		listStatus();
		if (st.selected === id) {
			const next = st.messages[i] || st.messages[i - 1];
			if (next && openNext) openMessage(next.id); else clearMessage();
		}
	}
	function clearMessage() {
		st.selected = 0;
		st.parsed = null;
		toolbarState();
		$('msgview').replaceChildren(h('p', { className: 'hint' }, 'Select a message.'));
		setView('list');
	}

	// Messages we move or delete, while the call runs: the change event
	// can arrive before the answer, and is then ours (open the next).
	const removing = new Set();

	// The messages actions apply to: those checked (ctrl/shift-click) or
	// the open one.
	function targets() {
		if (st.checked.size) return st.messages.filter((m) => st.checked.has(m.id));
		const m = current();
		return m ? [m] : [];
	}

	async function moveTo(ms, mailboxID) {
		ms = ms.filter((m) => m.mailboxID !== mailboxID);
		if (!ms.length) return;
		const ids = ms.map((m) => m.id);
		ids.forEach((id) => removing.add(id));
		try { await msapi.call('MessageMove', ids, mailboxID); } finally { ids.forEach((id) => removing.delete(id)); }
		const use = (mbByID(mailboxID) || {}).specialUse;
		const one = ms.length === 1 && !st.checked.size;
		for (const m of ms) {
			if (listMailbox() === 0 && use !== 'junk' && use !== 'trash') m.mailboxID = mailboxID;
			else dropFromList(m.id, one);
		}
		if (!one) endMulti();
	}

	// After moving by hand: the server may suggest a ruleset that moves such
	// messages on delivery (as the reference asks "always move these?").
	async function suggestRuleset(m, fromID, toID) {
		const bar = $('suggest');
		bar.hidden = true;
		let sg;
		try { sg = await msapi.call('RulesetSuggestMove', m.id, fromID, toID); } catch (e) { return; }
		if (!sg || sg.alreadyExists || !sg.ruleset) return;
		const what = sg.listID ? 'messages of list ' + sg.listID : 'messages from ' + sg.msgFrom;
		const status = h('span', { className: 'status' });
		const done = (text) => { bar.replaceChildren(h('span', {}, text)); setTimeout(() => { bar.hidden = true; }, 4000); };
		const run = (fn, text) => async () => {
			try { await fn(); done(text); } catch (e) { status.textContent = 'Error: ' + e.message; }
		};
		const yes = h('button', { type: 'button', id: 'suggestyes' }, 'Yes, always');
		const no = h('button', { type: 'button' }, 'Not now');
		const never = h('button', { type: 'button' }, sg.listID ? 'Never for this list' : 'Never for this sender');
		const neverMb = h('button', { type: 'button' }, 'Never for ' + sg.toMailbox);
		yes.addEventListener('click', run(() => msapi.call('RulesetAdd', sg.rcptTo, sg.ruleset), 'Ruleset added: ' + what + ' go to ' + sg.toMailbox + '.'));
		no.addEventListener('click', () => { bar.hidden = true; });
		never.addEventListener('click', run(() => msapi.call('RulesetMessageNever', sg.rcptTo, sg.listID || '', sg.msgFrom || '', toID === (inbox() || {}).id), 'Will not ask again for these messages.'));
		neverMb.addEventListener('click', run(() => msapi.call('RulesetMailboxNever', toID, true), 'Will not ask again for moves to ' + sg.toMailbox + '.'));
		bar.replaceChildren(h('span', {}, 'Always move ' + what + ' (to ' + sg.rcptTo + ') to ' + sg.toMailbox + '?'), ' ', yes, ' ', no, ' ', never, ' ', neverMb, ' ', status);
		bar.hidden = false;
	}

	async function moveByHand(ms, mailboxID) {
		const m = ms[0], from = m ? m.mailboxID : 0;
		await moveTo(ms, mailboxID);
		if (ms.length === 1) suggestRuleset(m, from, mailboxID);
	}

	async function deleteMessage() {
		const ms = targets();
		if (!ms.length) return;
		const one = ms.length === 1 && !st.checked.size;
		const trash = mbByUse('trash');
		// In Trash (or without one) messages go for good, after asking.
		const forGood = ms.filter((m) => !trash || m.mailboxID === trash.id);
		if (forGood.length) {
			const what = forGood.length === 1 ? '"' + (forGood[0].subject || '(no subject)') + '"' : forGood.length + ' messages';
			if (!window.confirm('Delete ' + what + ' for good? This cannot be undone.')) return;
			const ids = forGood.map((m) => m.id);
			ids.forEach((id) => removing.add(id));
			try { await msapi.call('MessageDelete', ids); } finally { ids.forEach((id) => removing.delete(id)); }
			ids.forEach((id) => dropFromList(id, one));
		}
		const rest = ms.filter((m) => !forGood.includes(m));
		if (rest.length) await moveTo(rest, trash.id);
		else if (!one) endMulti();
	}

	// Set (when not all messages have it) or clear a flag.
	async function toggleFlag(flag) {
		const ms = targets();
		if (!ms.length) return;
		const ids = ms.map((m) => m.id);
		const add = ms.some((m) => !hasFlag(m, flag));
		await msapi.call(add ? 'FlagsAdd' : 'FlagsClear', ids, [flag]);
		for (const m of ms) setLocalFlags(m.id, add ? (hasFlag(m, flag) ? m.flags : m.flags.concat([flag])) : m.flags.filter((f) => f !== flag));
		if (st.checked.size) multiState();
	}
	const toggleSeen = () => toggleFlag('\\Seen');
	const toggleFlagged = () => toggleFlag('\\Flagged');

	// As the reference: junk goes to the Junk mailbox with $Junk (and
	// without $NotJunk), which trains the filter; not junk goes to the
	// Inbox with $NotJunk.
	async function markJunk(junk) {
		const ms = targets();
		if (!ms.length) return;
		const ids = ms.map((m) => m.id);
		const target = junk ? mbByUse('junk') : inbox();
		if (!target) throw new Error(junk ? 'No mailbox has the special use "junk"; set one under Manage mailbox.' : 'No Inbox.');
		await msapi.call('FlagsAdd', ids, [junk ? '$Junk' : '$NotJunk']);
		await msapi.call('FlagsClear', ids, [junk ? '$NotJunk' : '$Junk']);
		await moveTo(ms, target.id);
	}

	async function archive() {
		const ms = targets();
		if (!ms.length) return;
		const a = mbByUse('archive');
		if (!a) throw new Error('No mailbox has the special use "archive"; set one under Manage mailbox.');
		await moveByHand(ms, a.id);
	}

	async function toggleMute() {
		const m = current();
		if (!m) return;
		const mute = !m.threadMuted;
		await msapi.call('ThreadMute', [m.id], mute);
		for (const x of st.messages) {
			if (x.threadID === m.threadID) { x.threadMuted = mute; x.threadCollapsed = mute || x.threadCollapsed; }
		}
		m.threadMuted = mute;
		toolbarState();
	}

	$('editdraft').addEventListener('click', () => act(() => compose('draft')));
	$('mute').addEventListener('click', () => act(toggleMute));
	$('reply').addEventListener('click', () => act(() => compose('reply')));
	$('replyall').addEventListener('click', () => act(() => compose('replyall')));
	$('forward').addEventListener('click', () => act(() => compose('forward')));
	$('delete').addEventListener('click', () => act(deleteMessage));
	$('markunread').addEventListener('click', () => act(toggleSeen));
	$('flag').addEventListener('click', () => act(toggleFlagged));
	$('junk').addEventListener('click', () => act(() => markJunk(true)));
	$('notjunk').addEventListener('click', () => act(() => markJunk(false)));
	$('archive').addEventListener('click', () => act(archive));
	$('moveto').addEventListener('change', (ev) => {
		const id = Number(ev.target.value), ms = targets();
		if (id && ms.length) act(() => moveByHand(ms, id));
	});
	$('backtolist').addEventListener('click', () => setView('list'));
	$('showmailboxes').addEventListener('click', () => setView('mailboxes'));
	$('loadmore').addEventListener('click', () => loadList(true));

	// ---- search ----

	let searchTimer = 0;
	$('searchform').addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearTimeout(searchTimer);
		st.search = $('search').value.trim();
		loadList();
	});
	$('search').addEventListener('input', () => {
		clearTimeout(searchTimer);
		searchTimer = setTimeout(() => {
			const s = $('search').value.trim();
			if (s !== st.search) { st.search = s; loadList(); }
		}, 400);
	});
	$('unreadonly').addEventListener('change', (ev) => { st.unread = ev.target.checked; loadList(); });
	$('everywhere').addEventListener('change', (ev) => { st.everywhere = ev.target.checked; clearMessage(); renderMailboxes(); loadList(); });

	// ---- mailbox management ----

	function dialogForm(dlg) { return dlg.querySelector('form'); }
	function formStatus(form, text) { const s = form.querySelector('.status'); if (s) s.textContent = text || ''; }
	function formError(form, e) { showError(form.querySelector('.error'), e); }

	let mbEditing = null;
	function openMailboxDialog(m) {
		mbEditing = m;
		const dlg = $('mbdialog'), f = dialogForm(dlg);
		formError(f, null);
		formStatus(f, '');
		$('mbtitle').textContent = m ? 'Mailbox ' + m.name : 'New mailbox';
		f.elements.name.value = m ? m.name : '';
		f.elements.specialUse.value = m ? m.specialUse : '';
		f.elements.specialUse.disabled = !m;
		for (const id of ['mbmarkread', 'mbempty', 'mbdelete']) $(id).hidden = !m;
		dlg.showModal();
		f.elements.name.focus();
	}
	$('mbnew').addEventListener('click', () => openMailboxDialog(null));
	$('mbmanage').addEventListener('click', () => {
		const m = mbByID(st.mailboxID);
		if (m) openMailboxDialog(m); else pageError(new Error('Select a mailbox first.'));
	});
	$('mbcancel').addEventListener('click', () => $('mbdialog').close());
	$('mbform').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const f = ev.target;
		formError(f, null);
		const name = f.elements.name.value.trim();
		try {
			if (!name) throw new Error('A name is needed.');
			if (!mbEditing) {
				await msapi.call('MailboxCreate', name);
			} else {
				if (name !== mbEditing.name) await msapi.call('MailboxRename', mbEditing.id, name);
				if (f.elements.specialUse.value !== mbEditing.specialUse) await msapi.call('MailboxSetSpecialUse', mbEditing.id, f.elements.specialUse.value);
			}
			$('mbdialog').close();
		} catch (e) { formError(f, e); }
	});
	$('mbmarkread').addEventListener('click', async () => {
		const f = $('mbform');
		try { await msapi.call('MailboxesMarkRead', [mbEditing.id]); formStatus(f, 'All messages marked read.'); if (mbEditing.id === st.mailboxID) loadList(); } catch (e) { formError(f, e); }
	});
	$('mbempty').addEventListener('click', async () => {
		const f = $('mbform'), m = mbEditing;
		if (!window.confirm('Remove all ' + m.total + ' messages of "' + m.name + '" for good? This cannot be undone.')) return;
		try { await msapi.call('MailboxEmpty', m.id); formStatus(f, 'Emptied.'); if (m.id === st.mailboxID) { clearMessage(); loadList(); } } catch (e) { formError(f, e); }
	});
	$('mbdelete').addEventListener('click', async () => {
		const f = $('mbform'), m = mbEditing;
		if (!window.confirm('Delete mailbox "' + m.name + '" and its ' + m.total + ' messages for good? This cannot be undone.')) return;
		try {
			await msapi.call('MailboxDelete', m.id);
			$('mbdialog').close();
			if (m.id === st.mailboxID) { const i = inbox(); clearMessage(); selectMailbox(i ? i.id : 0); }
		} catch (e) { formError(f, e); }
	});

	// ---- compose ----

	let draft = null; // {draftID, responseMessageID, isForward, forwardAttachments}

	function splitAddrs(s) {
		// Commas inside quoted display names do not split.
		const out = [];
		let cur = '', q = false;
		for (const c of s) {
			if (c === '"') q = !q;
			if ((c === ',' || c === ';') && !q) { if (cur.trim()) out.push(cur.trim()); cur = ''; } else cur += c;
		}
		if (cur.trim()) out.push(cur.trim());
		return out;
	}

	function quoteText(text) {
		return text.replace(/\s+$/, '').split('\n').map((l) => (l.startsWith('>') ? '>' : '> ') + l).join('\n');
	}

	function reSubject(prefix, s) {
		s = s || '';
		const re = prefix === 'Re' ? /^re:/i : /^(fwd?|fw):/i;
		return re.test(s.trim()) ? s : prefix + ': ' + s;
	}

	function compose(kind) {
		const f = $('composeform');
		const pm = st.parsed;
		if (kind !== 'new' && !pm) return;
		f.reset();
		formError(f, null);
		formStatus(f, '');
		$('fwdattachments').replaceChildren();
		$('rcptsecurity').replaceChildren();
		$('rcptsecurity').hidden = true;
		draft = { draftID: 0, responseMessageID: 0, isForward: false, forwardAttachments: null };
		const own = ownAddresses();
		f.elements.from.replaceChildren(...own.map((a) => h('option', { value: a }, st.fullName ? st.fullName + ' <' + a + '>' : a)));
		f.elements.from.value = st.loginAddress && own.includes(st.loginAddress) ? st.loginAddress : own[0] || '';
		const sig = st.settings && st.settings.signature ? '-- \n' + st.settings.signature : '';
		let body = sig ? '\n\n' + sig : '', title = 'New message', cursor = 0;
		if (kind === 'draft') {
			const m = pm.item;
			title = 'Edit draft';
			if (own.includes(((m.from || [])[0] || {}).address)) f.elements.from.value = m.from[0].address;
			f.elements.to.value = addrList(m.to);
			f.elements.cc.value = addrList(m.cc);
			f.elements.bcc.value = addrList(m.bcc);
			f.elements.subject.value = m.subject || '';
			body = pm.text || '';
			draft.draftID = m.id;
			if (m.inReplyTo) draft.inReplyTo = m.inReplyTo;
		} else if (kind !== 'new') {
			const m = pm.item;
			// Answer from the address the message was sent to, when ours.
			const to = (m.to || []).concat(m.cc || []).find((a) => own.some((o) => o.toLowerCase() === a.address.toLowerCase()));
			if (to) f.elements.from.value = own.find((o) => o.toLowerCase() === to.address.toLowerCase());
			const quoted = 'On ' + fullDate(m.date || m.received) + ', ' + addrList(m.from) + ' wrote:\n' + quoteText(pm.text || '');
			if (kind === 'forward') {
				title = 'Forward';
				f.elements.subject.value = reSubject('Fwd', m.subject);
				body = (sig ? '\n\n' + sig : '') + '\n\n---------- Forwarded message ----------\nFrom: ' + addrList(m.from) + '\nDate: ' + fullDate(m.date || m.received) +
					'\nSubject: ' + (m.subject || '') + '\nTo: ' + addrList(m.to) + '\n\n' + (pm.text || '');
				draft.isForward = true;
				draft.responseMessageID = m.id;
				if (pm.attachments && pm.attachments.length) {
					draft.forwardAttachments = { messageID: m.id, paths: [] };
					$('fwdattachments').replaceChildren(...pm.attachments.map((a) => h('li', {}, h('label', { className: 'check' },
						h('input', { type: 'checkbox', checked: true, dataset: { path: JSON.stringify(a.path) } }),
						'Forward attachment ' + (a.filename || a.contentType)))));
				}
			} else {
				title = kind === 'reply' ? 'Reply' : 'Reply all';
				f.elements.subject.value = reSubject('Re', m.subject);
				const primary = m.replyTo && m.replyTo.length ? m.replyTo : m.from || [];
				let toList = primary.map(addrText);
				let ccList = [];
				if (kind === 'replyall') {
					const seen = new Set(primary.map((a) => a.address.toLowerCase()));
					const add = (list, a) => { const k = a.address.toLowerCase(); if (!seen.has(k) && !isOwn(a.address)) { seen.add(k); list.push(addrText(a)); } };
					(m.to || []).forEach((a) => add(toList, a));
					(m.cc || []).forEach((a) => add(ccList, a));
				}
				f.elements.to.value = toList.join(', ');
				f.elements.cc.value = ccList.join(', ');
				draft.responseMessageID = m.id;
				draft.inReplyTo = m.messageID;
				const top = st.settings && st.settings.quoting === 'top';
				if (top) {
					body = '\n' + (sig ? '\n' + sig + '\n' : '') + '\n' + quoted + '\n';
				} else {
					body = quoted + '\n\n' + (sig ? '\n' + sig : '');
					cursor = quoted.length + 2;
				}
			}
		}
		$('composetitle').textContent = title;
		f.elements.body.value = body;
		$('composedialog').showModal();
		draft.saved = composeSnapshot();
		showRecipientSecurity();
		const first = kind === 'new' || kind === 'forward' || (kind === 'draft' && !f.elements.to.value) ? f.elements.to : f.elements.body;
		first.focus();
		if (first === f.elements.body) f.elements.body.setSelectionRange(cursor, cursor);
	}

	function readFile(file) {
		return new Promise((resolve, reject) => {
			const r = new FileReader();
			r.onload = () => {
				const s = String(r.result), i = s.indexOf(',');
				resolve({ filename: file.name, contentType: file.type || 'application/octet-stream', data: s.slice(i + 1) });
			};
			r.onerror = () => reject(new Error('Reading ' + file.name + ': ' + (r.error ? r.error.message : 'failed')));
			r.readAsDataURL(file);
		});
	}

	async function composeMessage(f) {
		const to = splitAddrs(f.elements.to.value), cc = splitAddrs(f.elements.cc.value), bcc = splitAddrs(f.elements.bcc.value);
		const attachments = [];
		for (const file of f.elements.files.files) attachments.push(await readFile(file));
		if (draft.forwardAttachments) {
			draft.forwardAttachments.paths = [...$('fwdattachments').querySelectorAll('input:checked')].map((c) => JSON.parse(c.dataset.path));
		}
		return {
			from: f.elements.from.value, to, cc, bcc, replyTo: '',
			subject: f.elements.subject.value, textBody: f.elements.body.value,
			attachments, forwardAttachments: draft.forwardAttachments || { messageID: 0, paths: [] },
			isForward: draft.isForward, responseMessageID: draft.responseMessageID,
			requireTLS: f.elements.requireTLS.value === '' ? null : f.elements.requireTLS.value === 'yes',
			futureRelease: futureRelease(f), draftMessageID: draft.draftID,
		};
	}

	function futureRelease(f) {
		const v = f.elements.futureRelease.value;
		if (!v) return 0;
		const t = Math.floor(new Date(v).getTime() / 1000);
		if (!(t > Date.now() / 1000)) { f.elements.futureRelease.classList.add('invalid'); throw new Error('"Send later" must be in the future.'); }
		return t;
	}

	// With the setting on: what is known about delivering securely to
	// each recipient's domain.
	const securityCache = new Map();
	async function showRecipientSecurity() {
		const f = $('composeform'), ul = $('rcptsecurity');
		if (!st.settings || !st.settings.showAddressSecurity) { ul.hidden = true; return; }
		const addrs = ['to', 'cc', 'bcc'].flatMap((n) => splitAddrs(f.elements[n].value))
			.map((a) => { const m = /<([^>]+)>/.exec(a); return (m ? m[1] : a).trim(); }).filter((a) => a.includes('@'));
		const rows = [];
		for (const a of [...new Set(addrs)]) {
			let r = securityCache.get(a);
			if (!r) {
				try { r = await msapi.call('RecipientSecurity', a); securityCache.set(a, r); } catch (e) { r = null; }
			}
			if (!r) continue;
			const items = [['startTLS', 'STARTTLS'], ['mtaSTS', 'MTA-STS'], ['dnssec', 'DNSSEC'], ['dane', 'DANE'], ['requireTLS', 'REQUIRETLS']]
				.map(([k, label]) => h('span', { className: 'sec sec-' + r[k], title: label + ': ' + r[k] }, label + (r[k] === 'yes' ? ' \u2713' : r[k] === 'no' ? ' \u2717' : ' ?')));
			rows.push(h('li', {}, a + ': ', ...items));
		}
		ul.replaceChildren(...rows);
		ul.hidden = rows.length === 0;
	}

	let composeBusy = false;
	async function composeDo(send) {
		const f = $('composeform');
		if (composeBusy) return;
		formError(f, null);
		formStatus(f, '');
		f.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
		composeBusy = true;
		f.querySelectorAll('button').forEach((b) => { b.disabled = b.id !== 'composecancel'; });
		try {
			const m = await composeMessage(f);
			if (send) {
				if (m.to.length + m.cc.length + m.bcc.length === 0) { f.elements.to.classList.add('invalid'); throw new Error('Add at least one recipient.'); }
				if (!m.subject.trim() && !window.confirm('Send without a subject?')) return;
				formStatus(f, m.futureRelease ? 'Scheduling...' : 'Sending...');
				await msapi.call('MessageSubmit', m);
				draft = null;
				$('composedialog').close();
				flash(m.futureRelease ? 'Message scheduled for ' + fullDate(m.futureRelease) + '.' : 'Message sent.');
			} else {
				formStatus(f, 'Saving...');
				draft.draftID = await msapi.call('MessageCompose', m, draft.draftID);
				draft.saved = composeSnapshot();
				formStatus(f, 'Draft saved.');
			}
		} catch (e) {
			formStatus(f, '');
			formError(f, e);
		} finally {
			composeBusy = false;
			f.querySelectorAll('button').forEach((b) => { b.disabled = false; });
		}
	}

	$('composebtn').addEventListener('click', () => compose('new'));
	// Enter in a field must not send: only the button and Ctrl+Enter do.
	$('composeform').addEventListener('submit', (ev) => ev.preventDefault());
	$('composesend').addEventListener('click', () => composeDo(true));
	$('composeform').addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); composeDo(true); }
	});
	$('composesave').addEventListener('click', () => composeDo(false));
	$('composecancel').addEventListener('click', () => closeCompose());
	$('composedialog').addEventListener('cancel', (ev) => { ev.preventDefault(); closeCompose(); });
	// What the form holds, to ask before throwing away changes.
	function composeSnapshot() {
		const f = $('composeform');
		return JSON.stringify(['from', 'to', 'cc', 'bcc', 'subject', 'body'].map((n) => f.elements[n].value).concat([f.elements.files.files.length]));
	}
	function closeCompose() {
		const dirty = draft && composeSnapshot() !== draft.saved;
		if (dirty && !window.confirm(draft.draftID ? 'Discard the changes since the draft was saved?' : 'Discard this message?')) return;
		$('composedialog').close();
	}
	for (const name of ['to', 'cc', 'bcc']) {
		$('composeform').elements[name].addEventListener('input', (ev) => { ev.target.classList.remove('invalid'); complete(ev.target); });
		$('composeform').elements[name].addEventListener('change', () => showRecipientSecurity());
	}

	// Autocomplete of the last address being typed, through a datalist
	// whose options are the whole field value with that address completed.
	let completeTimer = 0, completeGen = 0;
	function complete(input) {
		clearTimeout(completeTimer);
		completeTimer = setTimeout(async () => {
			const v = input.value;
			const i = Math.max(v.lastIndexOf(','), v.lastIndexOf(';'));
			const prefix = i >= 0 ? v.slice(0, i + 1) + ' ' : '';
			const word = v.slice(i + 1).trim();
			const gen = ++completeGen;
			if (word.length < 2) { $('rcptlist').replaceChildren(); return; }
			try {
				const r = await msapi.call('CompleteRecipient', word);
				if (gen !== completeGen) return;
				$('rcptlist').replaceChildren(...(r.addresses || []).map((a) => h('option', { value: prefix + a })));
			} catch (e) { /* completion is a help only */ }
		}, 200);
	}

	let flashTimer = 0;
	function flash(text) {
		$('connstatus').textContent = text;
		clearTimeout(flashTimer);
		flashTimer = setTimeout(() => { if ($('connstatus').textContent === text) $('connstatus').textContent = ''; }, 4000);
	}

	// ---- settings ----

	$('settingsbtn').addEventListener('click', () => {
		const f = $('settingsform'), s = st.settings || {};
		formError(f, null);
		formStatus(f, '');
		f.elements.signature.value = s.signature || '';
		f.elements.quoting.value = s.quoting || 'default';
		f.elements.showHTML.checked = !!s.showHTML;
		f.elements.showAddressSecurity.checked = !!s.showAddressSecurity;
		f.elements.noShowShortcuts.checked = !!s.noShowShortcuts;
		$('settingsdialog').showModal();
	});
	$('settingscancel').addEventListener('click', () => $('settingsdialog').close());
	$('settingsform').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const f = ev.target;
		formError(f, null);
		const s = Object.assign({}, st.settings || { showHeaders: [] }, {
			signature: f.elements.signature.value, quoting: f.elements.quoting.value,
			showHTML: f.elements.showHTML.checked, showAddressSecurity: f.elements.showAddressSecurity.checked,
			noShowShortcuts: f.elements.noShowShortcuts.checked,
		});
		try {
			await msapi.call('SettingsSave', s);
			st.settings = s;
			shortcutHints();
			$('settingsdialog').close();
		} catch (e) { formError(f, e); }
	});

	// ---- keyboard ----

	const KEYS = [
		['j', 'Next message', () => moveSel(1)],
		['k', 'Previous message', () => moveSel(-1)],
		['r', 'Reply', () => act(() => compose('reply'))],
		['a', 'Reply all', () => act(() => compose('replyall'))],
		['f', 'Forward', () => act(() => compose('forward'))],
		['d', 'Delete', () => act(deleteMessage)],
		['u', 'Toggle unread', () => act(toggleSeen)],
		['c', 'Compose', () => compose('new')],
		['/', 'Search', () => { $('search').focus(); $('search').select(); }],
		['?', 'This help', () => $('helpdialog').showModal()],
	];
	$('helprows').replaceChildren(...KEYS.map(([k, what]) => h('tr', {}, h('th', {}, h('kbd', {}, k)), h('td', {}, what))));
	$('helpbtn').addEventListener('click', () => $('helpdialog').showModal());
	$('helpclose').addEventListener('click', () => $('helpdialog').close());
	function shortcutHints() {
		const off = st.settings && st.settings.noShowShortcuts;
		// The "(r)" hints in the buttons' titles.
		document.querySelectorAll('button[title]').forEach((b) => {
			if (b.dataset.title === undefined) b.dataset.title = b.title;
			b.title = off ? b.dataset.title.replace(/ \(.\)$/, '') : b.dataset.title;
		});
	}

	function moveSel(d) {
		if (!st.messages.length) return;
		let i = st.messages.findIndex((m) => m.id === st.selected);
		i = i < 0 ? 0 : Math.min(st.messages.length - 1, Math.max(0, i + d));
		openMessage(st.messages[i].id);
		if (d > 0 && i === st.messages.length - 1 && st.hasMore) loadList(true);
	}

	document.addEventListener('keydown', (ev) => {
		if (ev.ctrlKey || ev.metaKey || ev.altKey || !st.started) return;
		const t = ev.target;
		const typing = t && (t.isContentEditable || ['TEXTAREA', 'SELECT'].includes(t.tagName) ||
			(t.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(t.type)));
		if (typing) {
			if (ev.key === 'Escape' && t.id === 'search') t.blur();
			return;
		}
		if (document.querySelector('dialog[open]')) return;
		const k = KEYS.find(([key]) => key === ev.key);
		if (!k) return;
		ev.preventDefault();
		k[2]();
	});
	$('messages').addEventListener('keydown', (ev) => {
		if (ev.key === 'ArrowDown') { ev.preventDefault(); moveSel(1); }
		if (ev.key === 'ArrowUp') { ev.preventDefault(); moveSel(-1); }
	});

	// ---- events ----

	function applyStart(s) {
		st.account = s.account;
		st.loginAddress = s.loginAddress;
		st.fullName = s.fullName || '';
		st.addresses = s.addresses || [];
		st.settings = s.settings || null;
		st.mailboxes = s.mailboxes || [];
		$('who').textContent = s.loginAddress || s.account;
		shortcutHints();
		if (!st.started) {
			st.started = true;
			const i = inbox();
			st.mailboxID = i ? i.id : 0;
			renderMailboxes();
			loadList();
		} else {
			// Reconnected: changes may have been missed.
			if (!mbByID(st.mailboxID) && st.mailboxID) { const i = inbox(); st.mailboxID = i ? i.id : 0; }
			renderMailboxes();
			loadList();
		}
	}

	function applyChanges(c) {
		if (c.mailboxes) {
			st.mailboxes = c.mailboxes;
			if (st.mailboxID && !mbByID(st.mailboxID)) { const i = inbox(); st.mailboxID = i ? i.id : 0; clearMessage(); loadList(); }
			renderMailboxes();
			if (st.parsed) toolbarState();
		}
		const added = c.added || [];
		for (const id of c.removed || []) {
			// A move shows as removed and added: keep it open when it stays in view.
			const again = added.find((m) => m.id === id);
			if (!(again && inView(again))) dropFromList(id, removing.has(id));
		}
		for (const f of c.flags || []) {
			const m = st.messages.find((x) => x.id === f.id);
			if (m) { m.flags = f.flags; updateRow(m); }
			if (st.parsed && st.parsed.item.id === f.id) { st.parsed.item.flags = f.flags; toolbarState(); }
		}
		if (added.length && st.search) { loadList(); return; }
		let n = 0;
		for (const m of added) {
			const old = st.messages.findIndex((x) => x.id === m.id);
			if (old >= 0) {
				// A move within the view: the message's new values.
				if (inView(m)) { st.messages[old] = m; updateRow(m); } else dropFromList(m.id, removing.has(m.id));
				continue;
			}
			if (!inView(m)) continue;
			// Newest first by received, then id; older than what is loaded: a later page.
			const i = st.messages.findIndex((x) => x.received < m.received || (x.received === m.received && x.id < m.id));
			if (i < 0 && st.hasMore) continue;
			st.messages.splice(i < 0 ? st.messages.length : i, 0, m);
			n++;
		}
		if (n) { st.total += n; renderList(); }
	}

	let reconnectTimer = 0, failures = 0;
	async function connect() {
		clearTimeout(reconnectTimer);
		if (st.es) { st.es.close(); st.es = null; }
		let token;
		try {
			token = await msapi.call('Token');
		} catch (e) {
			$('connstatus').textContent = 'Not connected: ' + e.message;
			retry();
			return;
		}
		const es = new EventSource('events?token=' + encodeURIComponent(token));
		st.es = es;
		es.addEventListener('start', (ev) => {
			failures = 0;
			$('connstatus').textContent = '';
			try { applyStart(JSON.parse(ev.data)); } catch (e) { pageError(e); }
			showApp();
		});
		es.addEventListener('changes', (ev) => {
			try { applyChanges(JSON.parse(ev.data)); } catch (e) { pageError(e); }
		});
		es.addEventListener('error', () => {
			if (st.es !== es) return;
			es.close();
			st.es = null;
			$('connstatus').textContent = 'Connection lost, reconnecting...';
			retry();
		});
	}
	function retry() {
		failures++;
		clearTimeout(reconnectTimer);
		reconnectTimer = setTimeout(connect, Math.min(30, 2 ** Math.min(failures, 5)) * 1000);
	}

	function showApp() {
		$('content').hidden = false;
		for (const id of ['logout', 'composebtn', 'settingsbtn', 'helpbtn']) $(id).hidden = false;
	}

	// ---- start ----

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), true));
	$('logout').addEventListener('click', async () => {
		if (st.es) st.es.close();
		try { await msapi.logout(); } finally { location.reload(); }
	});
	window.addEventListener('online', () => { if (!st.es) connect(); });
	clearMessage();
	connect();
})();
