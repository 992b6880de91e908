// Browser test of the web interfaces: headless Chromium (the Debian
// package) driven by playwright-core through the real nginx in front of
// mailstead-admin and mailstead-account. Run by
// tests/integration/test_browser.py, which starts the servers and installs
// playwright-core into the build directory; by hand:
//   node web-flow.js   (with the environment variables below set)
//
// Environment:
//   MS_BASE          http://127.0.0.1:<port> of nginx
//   MS_ADMIN_PW      the admin password (mailstead setadminpassword)
//   MS_DOMAIN        domain to add (must not exist yet)
//   MS_ADDRESS       address of the account to add in it
//   MS_PW1, MS_PW2   the password the admin sets, the one the user changes to
//   MS_SHOTS         directory for the screenshots (PNG, one per page state)
//   MS_REPORT_DAY    YYYY-MM-DD: first day of the stored DMARC and TLS
//                    reports (before the reports page's default period);
//                    one DMARC evaluation is stored too
//   MS_SUPPRESS      a reporting address to put on the DMARC suppression list
//   PLAYWRIGHT_CORE  path of the playwright-core package (default: resolve)
//   CHROMIUM         browser executable (default /usr/bin/chromium)
//
// Steps: admin login, add the domain, add the account, set its password;
// the reports page empty for the default period, then with the stored
// reports, a DMARC and a TLS report in detail, the evaluations page with a
// suppression added and the evaluations removed after confirmation; a log
// level set on the system page and removed after confirmation;
// account login, change the password, log out, the old password is
// refused, the new one works. Exit status 0 when every step worked; on
// failure the step is named on stderr and a screenshot "failed-*.png" is
// kept. Uncaught page errors and Content-Security-Policy violations fail.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

function env(name) {
	const v = process.env[name];
	if (!v) throw new Error('environment variable ' + name + ' not set');
	return v;
}

const base = env('MS_BASE').replace(/\/$/, '');
const adminPw = env('MS_ADMIN_PW');
const domain = env('MS_DOMAIN');
const address = env('MS_ADDRESS');
const pw1 = env('MS_PW1');
const pw2 = env('MS_PW2');
const shots = env('MS_SHOTS');
const reportDay = env('MS_REPORT_DAY');
const suppress = env('MS_SUPPRESS');
// Every wait is bounded so a broken page fails instead of hanging.
const TIMEOUT = 20000;

let step = 'start';
let page = null;
const problems = [];
let shotCount = 0;

async function shot(name) {
	shotCount++;
	const file = path.join(shots, String(shotCount).padStart(2, '0') + '-' + name + '.png');
	await page.screenshot({ path: file, fullPage: true });
	console.log('screenshot ' + file);
}

function watch(p, label) {
	p.on('pageerror', (e) => problems.push(label + ': page error: ' + e.message));
	p.on('console', (m) => {
		// Failed API calls (a refused login is HTTP 4xx) log "Failed to
		// load resource"; that is expected. Script errors and CSP
		// violations are not.
		if (m.type() === 'error' && /Content Security Policy|Uncaught/.test(m.text()))
			problems.push(label + ': console: ' + m.text());
	});
	p.setDefaultTimeout(TIMEOUT);
}

function check() {
	if (problems.length) throw new Error(problems.join('\n'));
}

async function admin(browser) {
	const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
	page = await ctx.newPage();
	watch(page, 'admin');

	step = 'admin: login page';
	await page.goto(base + '/admin/');
	await page.locator('#login').waitFor({ state: 'visible' });
	await shot('admin-login');

	step = 'admin: log in';
	await page.fill('#loginform input[name=password]', adminPw);
	await page.click('#loginform button[type=submit]');
	await page.locator('#nav').waitFor({ state: 'visible' });
	await page.locator('#domains').waitFor({ state: 'visible' });
	await page.locator('#login').waitFor({ state: 'hidden' });
	await shot('admin-domains');

	step = 'admin: add domain';
	await page.fill('#domainadd input[name=domain]', domain);
	await page.click('#domainadd button[type=submit]');
	await page.waitForURL((u) => u.hash === '#domain/' + encodeURIComponent(domain));
	await page.locator('#domain').waitFor({ state: 'visible' });
	await page.locator('#domainname', { hasText: domain }).waitFor();
	await shot('admin-domain');

	step = 'admin: domain listed';
	await page.click('#nav a[href="#domains"]');
	await page.locator('#domainlist a', { hasText: domain }).waitFor();

	step = 'admin: add account';
	await page.click('#nav a[href="#accounts"]');
	await page.locator('#accounts').waitFor({ state: 'visible' });
	await shot('admin-accounts');
	await page.fill('#accountadd input[name=address]', address);
	await page.click('#accountadd button[type=submit]');
	await page.waitForURL((u) => u.hash.startsWith('#account/'));
	await page.locator('#account').waitFor({ state: 'visible' });
	await page.locator('#accountdetail', { hasText: 'No password set' }).waitFor();
	const name = (await page.textContent('#accountname')).trim();
	if (!name) throw new Error('no account name on the account page');
	await shot('admin-account');

	step = 'admin: set password';
	const pwForm = page.locator('#accountdetail form', { has: page.locator('h4', { hasText: /^Password$/ }) });
	await pwForm.locator('input[name=password]').fill(pw1);
	await pwForm.locator('button[type=submit]').click();
	await pwForm.locator('.status', { hasText: 'Saved.' }).waitFor();
	const err = (await pwForm.locator('.error').textContent()).trim();
	if (err) throw new Error('set password: ' + err);
	await shot('admin-account-password');
	await reports();

	step = 'admin: set a log level';
	await page.click('#nav a[href="#system"]');
	await page.locator('#system').waitFor({ state: 'visible' });
	const smtpdRow = page.locator('#loglevellist tr', { has: page.locator('td', { hasText: /^smtpd$/ }) });
	await smtpdRow.waitFor();
	await page.selectOption('#loglevelset select[name=program]', 'smtpd');
	await page.selectOption('#loglevelset select[name=level]', 'debug');
	await page.click('#loglevelset button[type=submit]');
	await page.locator('#loglevelset .status', { hasText: 'Saved.' }).waitFor();
	await smtpdRow.locator('button', { hasText: 'Remove' }).waitFor();
	if ((await smtpdRow.locator('td').nth(2).textContent()).trim() !== 'debug') throw new Error('smtpd not shown at debug');
	await shot('admin-system-loglevel');

	step = 'admin: remove the log level (confirmed)';
	await smtpdRow.locator('button', { hasText: 'Remove' }).click();
	await page.locator('#confirm').waitFor({ state: 'visible' });
	await page.click('#confirmok');
	await smtpdRow.locator('button', { hasText: 'Remove' }).waitFor({ state: 'detached' });
	if ((await smtpdRow.locator('td').nth(1).textContent()).trim() !== 'default') throw new Error('smtpd not back at the default');
	check();
	await ctx.close();
	return name;
}

async function reports() {
	step = 'admin: reports page, nothing in the default period';
	await page.click('#nav a[href="#reports"]');
	await page.locator('#reports').waitFor({ state: 'visible' });
	await page.locator('#dmarcsummaries', { hasText: 'No DMARC aggregate reports received yet' }).waitFor();
	await page.locator('#tlssummaries', { hasText: 'No TLS reports received yet' }).waitFor();
	await shot('admin-reports-empty');

	step = 'admin: reports of an earlier period';
	await page.fill('#reportrange input[name=start]', reportDay);
	await page.click('#reportrange button[type=submit]');
	await page.locator('#dmarcreports a').first().waitFor();
	await page.locator('#tlsreports a').first().waitFor();
	await shot('admin-reports');

	step = 'admin: a DMARC report in detail';
	await page.locator('#dmarcreports a').first().click();
	await page.locator('#dmarcreport').waitFor({ state: 'visible' });
	await page.locator('#dmarcreportdetail td', { hasText: '192.0.2.1' }).first().waitFor();
	await shot('admin-dmarc-report');

	step = 'admin: a TLS report in detail';
	await page.goBack();
	await page.locator('#tlsreports a').first().click();
	await page.locator('#tlsreport').waitFor({ state: 'visible' });
	await page.locator('#tlsreportdetail td', { hasText: 'certificate-expired' }).first().waitFor();
	await shot('admin-tls-report');

	step = 'admin: evaluations and suppression list';
	await page.click('#nav a[href="#evaluations"]');
	await page.locator('#evaluations').waitFor({ state: 'visible' });
	await page.locator('#dmarcstats button.link').first().click();
	await page.locator('#dmarcevals td', { hasText: '198.51.100.9' }).waitFor();
	await page.fill('#dmarcsuppressadd input[name=address]', suppress);
	await page.fill('#dmarcsuppressadd input[name=comment]', 'bounces');
	await page.click('#dmarcsuppressadd button[type=submit]');
	await page.locator('#dmarcsuppress td', { hasText: suppress }).waitFor();
	await shot('admin-evaluations');

	step = 'admin: remove evaluations after confirming';
	await page.locator('#dmarcstats button.danger').first().click();
	await page.locator('#confirm').waitFor({ state: 'visible' });
	await page.click('#confirmok');
	await page.locator('#dmarcstats', { hasText: 'No evaluations kept' }).waitFor();
}

async function accountLogin(password) {
	await page.locator('#login').waitFor({ state: 'visible' });
	await page.fill('#loginform input[name=username]', address);
	await page.fill('#loginform input[name=password]', password);
	await page.click('#loginform button[type=submit]');
}

async function account(browser, name) {
	const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
	page = await ctx.newPage();
	watch(page, 'account');

	step = 'account: login page';
	await page.goto(base + '/');
	await page.locator('#login').waitFor({ state: 'visible' });
	await shot('account-login');

	step = 'account: log in with the password the admin set';
	await accountLogin(pw1);
	await page.locator('#content').waitFor({ state: 'visible' });
	await page.locator('#name', { hasText: name }).waitFor();
	await page.locator('#addresslist', { hasText: address }).waitFor();
	await shot('account');

	step = 'account: change password';
	await page.fill('#passwordform input[name=password]', pw2);
	await page.click('#passwordform button[type=submit]');
	await page.locator('#passwordform .status', { hasText: 'Password changed.' }).waitFor();
	await shot('account-password-changed');

	step = 'account: log out';
	await Promise.all([page.waitForEvent('load'), page.click('#logout')]);
	await page.locator('#login').waitFor({ state: 'visible' });

	step = 'account: old password refused';
	await accountLogin(pw1);
	await page.locator('#loginerror').filter({ hasText: /\S/ }).waitFor();
	if (await page.locator('#content').isVisible()) throw new Error('logged in with the old password');
	await shot('account-login-old-password');

	step = 'account: log in with the new password';
	await accountLogin(pw2);
	await page.locator('#content').waitFor({ state: 'visible' });
	await page.locator('#name', { hasText: name }).waitFor();
	await shot('account-relogin');
	check();
	await ctx.close();
}

(async () => {
	fs.mkdirSync(shots, { recursive: true });
	const args = ['--disable-dev-shm-usage'];
	// Chromium refuses to start as root with its sandbox.
	if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args,
	});
	try {
		const name = await admin(browser);
		await account(browser, name);
		console.log(JSON.stringify({ ok: true, account: name, screenshots: shotCount }));
	} catch (e) {
		console.error('FAIL at step "' + step + '": ' + (e && e.message ? e.message : e));
		if (problems.length) console.error(problems.join('\n'));
		try { if (page) await page.screenshot({ path: path.join(shots, 'failed-' + step.replace(/[^a-z0-9]+/gi, '-') + '.png'), fullPage: true }); } catch (e2) { /* the page may be gone */ }
		process.exitCode = 1;
	} finally {
		await browser.close();
	}
})().catch((e) => {
	console.error('FAIL: ' + (e && e.stack ? e.stack : e));
	process.exitCode = 1;
});
