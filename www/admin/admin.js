// Admin page: login with the admin password, then the list of domains.
'use strict';

(() => {
	const $ = (id) => document.getElementById(id);

	async function load() {
		const domains = await msapi.call('Domains');
		const tb = $('domainrows');
		tb.replaceChildren();
		for (const d of domains) {
			const tr = document.createElement('tr');
			for (const v of [d.name, String(d.accounts), d.clientSettingsDomain, d.disabled ? 'yes' : 'no']) {
				const td = document.createElement('td');
				td.textContent = v;
				tr.appendChild(td);
			}
			tb.appendChild(tr);
		}
		$('domains').hidden = false;
		$('logout').hidden = false;
	}

	msapi.setLoginHandler(msLoginForm($('login'), $('loginform'), $('loginerror'), false));
	$('logout').addEventListener('click', async () => {
		await msapi.logout();
		location.reload();
	});
	load().catch((e) => { document.querySelector('main').prepend(document.createTextNode('Error: ' + e.message)); });
})();
