// Browser test of the webmail page: headless Chromium (the Debian package)
// driven by playwright-core through the real nginx in front of
// mailstead-webmail. Run by tests/integration/test_browser_webmail.py,
// which starts the servers, delivers a message by SMTP and installs
// playwright-core; by hand: node webmail-flow.js (environment set).
//
// Environment:
//   MS_BASE          http://127.0.0.1:<port> of nginx
//   MS_ADDRESS       the account's address (log in with it, send to it)
//   MS_PASSWORD      its password
//   MS_SUBJECT1      subject of the message delivered by SMTP beforehand
//   MS_SUBJECT2      subject of the message to compose and send
//   MS_SUBJECT3      subject of a delivered message with a text and an
//                    HTML version ("Text version of" / heading "HTML
//                    version of" and the subject)
//   MS_STEPS         "login": only the login page and logging in;
//                    "all": the whole flow below
//   MS_SHOTS         directory for the screenshots (PNG, one per view)
//   PLAYWRIGHT_CORE  path of the playwright-core package (default: resolve)
//   CHROMIUM         browser executable (default /usr/bin/chromium)
//
// Steps: the login page, logging in; the Inbox lists the delivered message
// (unread); opening it shows its text and marks it read; a message with
// HTML shows its text, then the HTML in a sandboxed iframe; "c" opens the
// compose form, a message to ourselves is sent and shows up in the list
// through the event stream (no reload); the delivered message is deleted
// (to Trash), then deleted for good from Trash after confirming; a narrow
// screen shows one pane at a time. Exit status 0 when every step worked; on
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
const address = env('MS_ADDRESS');
const password = env('MS_PASSWORD');
const subject1 = env('MS_SUBJECT1');
const subject2 = env('MS_SUBJECT2');
const subject3 = env('MS_SUBJECT3');
const steps = env('MS_STEPS');
const shots = env('MS_SHOTS');
// Every wait is bounded so a broken page fails instead of hanging.
const TIMEOUT = 20000;

let step = 'start';
let page = null;
const problems = [];
let shotCount = 0;
const dialogs = [];

async function shot(name) {
	shotCount++;
	const file = path.join(shots, String(shotCount).padStart(2, '0') + '-' + name + '.png');
	await page.screenshot({ path: file, fullPage: true });
	console.log('screenshot ' + file);
}

function watch(p) {
	p.on('pageerror', (e) => problems.push('page error: ' + e.message));
	p.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Uncaught/.test(m.text()))
			problems.push('console: ' + m.text());
	});
	// Confirmations: accepted, and remembered so a step can check it asked.
	p.on('dialog', (d) => { dialogs.push(d.type() + ': ' + d.message()); d.accept(); });
	p.setDefaultTimeout(TIMEOUT);
}

function check() {
	if (problems.length) throw new Error(problems.join('\n'));
}

const row = (subject) => page.locator('#messages li.msgrow', { hasText: subject });

async function login() {
	step = 'login page';
	await page.goto(base + '/webmail/');
	await page.locator('#login').waitFor({ state: 'visible' });
	await shot('login');

	step = 'log in';
	await page.fill('#loginform input[name=username]', address);
	await page.fill('#loginform input[name=password]', password);
	await page.click('#loginform button[type=submit]');
	await page.locator('#login').waitFor({ state: 'hidden' });
	check();
}

async function flow() {
	step = 'inbox lists the delivered message';
	await page.locator('#content').waitFor({ state: 'visible' });
	await page.locator('#who', { hasText: address }).waitFor();
	await page.locator('#mailboxes button.mailbox.selected', { hasText: 'Inbox' }).waitFor();
	await row(subject1).waitFor();
	if (!(await row(subject1).evaluate((el) => el.classList.contains('unread')))) throw new Error('new message not shown unread');
	await page.locator('#mailboxes button.mailbox.selected .count', { hasText: /^[1-9]/ }).waitFor();
	step = 'three panes across the window';
	const panes = await page.evaluate(() => ['mailboxpane', 'listpane', 'msgpane'].map((id) => {
		const r = document.getElementById(id).getBoundingClientRect();
		return [r.left, r.width];
	}));
	if (panes[0][0] > 1 || panes[2][0] + panes[2][1] < 1270 || !(panes[0][0] < panes[1][0] && panes[1][0] < panes[2][0]))
		throw new Error('panes not side by side across the window: ' + JSON.stringify(panes));
	await shot('inbox');

	step = 'open the message';
	await row(subject1).click();
	await page.locator('#msgview .msgsubject', { hasText: subject1 }).waitFor();
	await page.locator('#msgview .msgtext', { hasText: 'first line of ' + subject1 }).waitFor();
	await page.locator('#msgview .msgheaders', { hasText: address }).waitFor();
	await page.locator('#msgtoolbar').waitFor({ state: 'visible' });
	step = 'opened message marked read';
	await page.locator('#messages li.msgrow.selected:not(.unread)', { hasText: subject1 }).waitFor();
	await page.locator('#markunread', { hasText: 'Mark unread' }).waitFor();
	await shot('message');

	step = 'a message with HTML: text first, then the HTML in a sandboxed frame';
	await row(subject3).click();
	await page.locator('#msgview .msgtext', { hasText: 'Text version of ' + subject3 }).waitFor();
	await page.click('#showhtml');
	const frame = page.locator('#msgview iframe.msghtml');
	await frame.waitFor();
	if ((await frame.getAttribute('sandbox')) !== '') throw new Error('message HTML frame not sandboxed');
	await page.frameLocator('#msgview iframe.msghtml').locator('h1', { hasText: 'HTML version of ' + subject3 }).waitFor();
	await shot('html');
	check();

	step = 'compose with the keyboard shortcut';
	await page.locator('#messages').focus();
	await page.keyboard.press('c');
	await page.locator('#composedialog').waitFor({ state: 'visible' });
	const from = await page.locator('#composeform select[name=from]').inputValue();
	if (from !== address) throw new Error('compose: from is ' + JSON.stringify(from));
	await page.fill('#composeform input[name=to]', address);
	await page.fill('#composeform input[name=subject]', subject2);
	await page.fill('#composeform textarea[name=body]', 'Written in the browser test.\n');
	// Enter in a field does not send half a message.
	await page.press('#composeform input[name=subject]', 'Enter');
	if (!(await page.locator('#composedialog').isVisible())) throw new Error('Enter in the subject field closed the compose form');
	await shot('compose');

	step = 'send; the message arrives through the event stream';
	await page.click('#composesend');
	await page.locator('#composedialog').waitFor({ state: 'hidden' });
	await row(subject2).waitFor({ timeout: 60000 });
	await shot('arrived');
	check();

	step = 'delete the delivered message (to Trash)';
	await row(subject1).click();
	await page.locator('#msgview .msgsubject', { hasText: subject1 }).waitFor();
	const asked = dialogs.length;
	await page.click('#delete');
	await row(subject1).waitFor({ state: 'detached' });
	if (dialogs.length !== asked) throw new Error('moving to Trash asked for confirmation: ' + dialogs.slice(asked).join('; '));
	await shot('deleted');

	step = 'the message is in Trash';
	await page.locator('#mailboxes button.mailbox', { hasText: 'Trash' }).click();
	await page.locator('#listtitle', { hasText: 'Trash' }).waitFor();
	await row(subject1).waitFor();
	await row(subject1).click();
	await page.locator('#msgview .msgsubject', { hasText: subject1 }).waitFor();
	await page.locator('#delete', { hasText: 'Delete for good' }).waitFor();
	await shot('trash');

	step = 'delete for good from Trash, after confirming';
	await page.click('#delete');
	await row(subject1).waitFor({ state: 'detached' });
	if (dialogs.length !== asked + 1 || !/cannot be undone/.test(dialogs[asked])) throw new Error('no confirmation before deleting for good: ' + dialogs.join('; '));
	await page.locator('#liststatus', { hasText: 'No messages.' }).waitFor();
	await shot('deleted-for-good');
	check();

	step = 'narrow screen: one pane at a time';
	await page.locator('#mailboxes button.mailbox', { hasText: 'Inbox' }).click();
	await row(subject2).waitFor();
	await page.setViewportSize({ width: 390, height: 800 });
	await page.locator('#showmailboxes').waitFor({ state: 'visible' });
	if (await page.locator('#mailboxpane').isVisible()) throw new Error('narrow: mailboxes shown next to the list');
	await shot('narrow-list');
	await row(subject2).click();
	await page.locator('#msgview .msgsubject', { hasText: subject2 }).waitFor();
	if (await page.locator('#listpane').isVisible()) throw new Error('narrow: list shown next to the message');
	await page.locator('#msgview .msgtext', { hasText: 'Written in the browser test.' }).waitFor();
	await shot('narrow-message');
	await page.click('#backtolist');
	await page.locator('#listpane').waitFor({ state: 'visible' });
	check();
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
		const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		page = await ctx.newPage();
		watch(page);
		await login();
		if (steps === 'all') await flow();
		else if (steps !== 'login') throw new Error('MS_STEPS: "login" or "all"');
		check();
		await ctx.close();
		console.log(JSON.stringify({ ok: true, screenshots: shotCount }));
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
