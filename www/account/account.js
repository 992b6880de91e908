// Account page: shows the account, saves the full name, changes the password.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);
	const show = (el, on) => { el.hidden = !on; };

	async function load() {
		const a = await msapi.call('Account');
		$('name').textContent = a.name;
		$('addresses').textContent = a.addresses.join(', ');
		$('fullnameform').fullName.value = a.fullName;
		show($('account'), true);
		show($('logout'), true);
	}

	function status(form, text) { form.querySelector('.status').textContent = text; }

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), true));

	$('fullnameform').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const f = ev.target;
		try { await msapi.call('AccountSaveFullName', f.fullName.value); status(f, 'Saved.'); }
		catch (e) { status(f, e.message); }
	});
	$('passwordform').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const f = ev.target;
		try { await msapi.call('SetPassword', f.password.value); f.password.value = ''; status(f, 'Password changed.'); }
		catch (e) { status(f, e.message); }
	});
	$('logout').addEventListener('click', async () => {
		await msapi.logout();
		location.reload();
	});
	load().catch((e) => { document.querySelector('main').prepend(document.createTextNode('Error: ' + e.message)); });
})();
