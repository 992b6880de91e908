// Webmail page: mailboxes, message list and message view, compose, over
// the JSON API of api.js and the change events of /webmail/events.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), true));
	$('logout').addEventListener('click', async () => {
		await msapi.logout();
		location.reload();
	});
	msapi.call('Token').then(() => {
		$('content').hidden = false;
		$('logout').hidden = false;
	}).catch((e) => { $('pageerror').textContent = 'Error: ' + e.message; });
})();
