// JSON API client of the Mailstead web interfaces: POST <base>api/<Method>
// with {"params": [...]}. The CSRF token from Login is kept in localStorage
// and sent as x-mailstead-csrf. On user:noAuth or user:badAuth the page's
// login form is shown and the call is retried after a successful login.
'use strict';

const msapi = (() => {
	const key = 'mailstead-csrf:' + location.pathname.replace(/[^/]*$/, '');
	let showLogin = null;

	class ApiError extends Error {
		constructor(code, message) { super(message); this.code = code; }
	}

	async function raw(method, params) {
		const headers = { 'Content-Type': 'application/json' };
		const csrf = localStorage.getItem(key);
		if (csrf) headers['x-mailstead-csrf'] = csrf;
		const resp = await fetch('api/' + method, {
			method: 'POST', headers, credentials: 'same-origin',
			body: JSON.stringify({ params: params }),
		});
		let body;
		try { body = await resp.json(); } catch (e) { throw new ApiError('server:error', 'HTTP ' + resp.status); }
		if (body.error) throw new ApiError(body.error.code, body.error.message);
		return body.result;
	}

	async function call(method, ...params) {
		for (;;) {
			try {
				return await raw(method, params);
			} catch (e) {
				if (!(e instanceof ApiError) || (e.code !== 'user:noAuth' && e.code !== 'user:badAuth') || !showLogin) throw e;
				// Only a bad (e.g. expired) session gets a message on the form.
				await showLogin(e.code === 'user:badAuth' ? e.message : '');
			}
		}
	}

	// login(username or '' for admin, password): LoginPrep then Login.
	async function login(username, password) {
		const token = await raw('LoginPrep', []);
		const params = username === null ? [token, password] : [token, username, password];
		const csrf = await raw('Login', params);
		localStorage.setItem(key, csrf);
	}

	async function logout() {
		try { await raw('Logout', []); } finally { localStorage.removeItem(key); }
	}

	// setLoginHandler(fn): fn(message) shows the login form and resolves
	// after a successful login.
	function setLoginHandler(fn) { showLogin = fn; }

	return { call, login, logout, setLoginHandler, ApiError };
})();

// Bind a login form: returns the handler for msapi.setLoginHandler.
function msLoginForm(section, form, errorEl, withUsername, onLogin) {
	let waiting = [];
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		errorEl.textContent = '';
		const btn = form.querySelector('button');
		btn.disabled = true;
		try {
			await msapi.login(withUsername ? form.username.value : null, form.password.value);
			form.password.value = '';
			section.hidden = true;
			const w = waiting; waiting = [];
			w.forEach((r) => r());
			if (onLogin) onLogin();
		} catch (e) {
			errorEl.textContent = e.message;
		} finally {
			btn.disabled = false;
		}
	});
	return (message) => new Promise((resolve) => {
		errorEl.textContent = message || '';
		section.hidden = false;
		waiting.push(resolve);
		(withUsername ? form.username : form.password).focus();
	});
}
