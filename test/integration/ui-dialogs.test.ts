import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../scripts/web';
import { DEFAULT_POLICY } from '../../shared/policy';
import { type BridgeTap, chromiumMissing, commandsSent, enrollThroughUi, focusRing, launchChromium, openTappedWorkstation, openWorkstation, screenshot, seriousA11yViolations } from '../fixtures/browser';
import { builtRenderer } from '../fixtures/builtRenderer';
import { useTempDirs } from '../fixtures/tempDirs';
import { PASSPHRASE } from '../fixtures/workstation';

/*
 * Modal dialogs in the real React UI in Debian's Chromium, through the browser harness: a dialog's action runs
 * once however often it is clicked while the core answers, and what is behind an open dialog cannot be reached
 * with the keyboard (the conversation's message box least of all); when the app locks with a dialog open, the lock
 * screen's passphrase field has the keyboard. Where the app puts the focus, its ring shows, even after a click; a
 * click's own focus has none. What happens meanwhile to the connection is still heard, once.
 * Screenshots: test/artifacts/dialog-inert.png, dialog-sign-in-again.png, sign-in-again.png, focus-dialog-opened.png,
 * focus-dialog-closed.png, focus-lock-passphrase.png.
 */
const missing = chromiumMissing();
if (missing) console.log(`UI dialog tests skipped: ${missing}`);

describe.skipIf(missing !== null)('modal dialogs in the UI', () => {
  const dir = useTempDirs();
  let harness: Harness;
  let browser: Browser;
  /** Dr. Alice Moreau's workstation, whose core can be made to answer slowly. */
  let alice: Page;
  let tap: BridgeTap;
  /** Olivia Park, compliance officer: Settings offers her both audit exports. Her core can answer slowly too. */
  let olivia: Page;
  let oliviaTap: BridgeTap;
  const composer = () => alice.getByLabel('Message', { exact: true });
  /** Where the keyboard focus is: inside the open dialog, nowhere in the page, or the name of the control it is on. */
  const focusedWhere = async () => {
    const focused = alice.locator(':focus');
    if ((await focused.count()) === 0) return 'nothing';
    if ((await alice.getByRole('dialog').locator(':focus').count()) > 0) return 'dialog';
    return (await focused.getAttribute('aria-label')) ?? (await focused.innerText()).slice(0, 40);
  };
  /** The page's live region (outside #root, never inert): what a screen reader hears, dialog open or not. */
  const heard = (role: 'status' | 'alert') => alice.locator('[data-live-region]').getByRole(role);
  const newCareTeam = async (title: string): Promise<Locator> => {
    await alice.getByRole('button', { name: 'New care team' }).click();
    const dialog = alice.getByRole('dialog', { name: 'New care team' });
    await dialog.getByLabel('Care team name').fill(title);
    await dialog.getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    return dialog;
  };

  beforeAll(async () => {
    harness = await startHarness({ port: 0, dataDir: dir(), policy: DEFAULT_POLICY, fastKdf: true, rendererDir: await builtRenderer() });
    browser = await launchChromium();
    const code = (username: string) => harness.demoCodes.find((d) => d.username === username)!.code;
    ({ page: alice, tap } = await openTappedWorkstation(browser, harness, 'alice'));
    await enrollThroughUi(alice, 'amoreau', code('amoreau'));
    await enrollThroughUi(await openWorkstation(browser, harness, 'bob'), 'bokafor', code('bokafor'));
    const officer = await harness.relay.accounts.addUser('opark', 'Olivia Park', 'compliance');
    ({ page: olivia, tap: oliviaTap } = await openTappedWorkstation(browser, harness, 'olivia'));
    await enrollThroughUi(olivia, 'opark', officer.enrollmentCode);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('creates one care team for a double click, or for Enter pressed twice, while the core answers', async () => {
    // The core takes its time: both clicks (and both Enters) come while the first is unanswered.
    tap.resultDelayMs['careTeams.create'] = 1500;
    const submits: [string, (button: Locator) => Promise<void>][] = [
      ['Bed 7 review', (button) => button.dblclick()],
      ['Bed 8 review', async (button) => {
        await button.focus();
        await alice.keyboard.press('Enter');
        await alice.keyboard.press('Enter');
      }],
    ];
    for (const [title, submit] of submits) {
      const before = commandsSent(alice, 'careTeams.create');
      const dialog = await newCareTeam(title);
      await submit(dialog.getByRole('button', { name: 'Create care team' }));
      await dialog.waitFor({ state: 'hidden' });
      await alice.getByRole('main').getByRole('heading', { name: title, exact: true }).waitFor();
      // Both clicks' requests, had there been two, were on the wire before the first answer closed the dialog.
      expect(commandsSent(alice, 'careTeams.create') - before).toBe(1);
    }
    tap.resultDelayMs['careTeams.create'] = 0;
    const titles = await alice.evaluate(async () => {
      const rounds = (globalThis as unknown as { rounds: { invoke(command: string, input: unknown): Promise<{ value?: unknown }> } }).rounds;
      return (((await rounds.invoke('conversations.list', {})).value ?? []) as { title: string }[]).map((c) => c.title);
    });
    expect(titles.filter((t) => t === 'Bed 7 review')).toHaveLength(1);
    expect(titles.filter((t) => t === 'Bed 8 review')).toHaveLength(1);
  }, 60_000);

  it('exports each audit log once for a double click, and shows an export\'s failure until one succeeds', async () => {
    await olivia.getByRole('button', { name: 'Settings' }).click();
    const settings = olivia.getByRole('dialog', { name: 'Settings' });
    const status = settings.getByRole('status');
    const alert = settings.getByRole('alert');
    oliviaTap.resultDelayMs['audit.export'] = 1500;
    oliviaTap.resultDelayMs['audit.exportRelay'] = 1500;
    const exports: [string, 'audit.export' | 'audit.exportRelay', RegExp][] = [
      ['Export audit log', 'audit.export', /^Saved \d+ records to .*rounds-audit-/],
      ['Export relay audit log', 'audit.exportRelay', /^Saved the relay's audit log \(\d+ KiB\) to .*rounds-relay-audit-all-/],
    ];
    for (const [button, command, saved] of exports) {
      const before = commandsSent(olivia, command);
      await settings.getByRole('button', { name: button }).dblclick();
      await status.filter({ hasText: saved }).waitFor();
      expect(commandsSent(olivia, command) - before).toBe(1);
    }

    // A refused export (a username the relay could not have) is said once in the dialog's one error display, and
    // the next export that works takes it away.
    await settings.getByLabel('Only this username (optional)').fill('no such user!');
    const refusedBefore = commandsSent(olivia, 'audit.exportRelay');
    await settings.getByRole('button', { name: 'Export relay audit log' }).dblclick();
    await alert.filter({ hasText: /^Please check/ }).waitFor();
    expect(await alert.count()).toBe(1);
    expect(await status.count()).toBe(0);
    expect(commandsSent(olivia, 'audit.exportRelay') - refusedBefore).toBe(1);
    await settings.getByRole('button', { name: 'Export audit log' }).click();
    await status.filter({ hasText: exports[0]![2] }).waitFor();
    expect(await alert.count()).toBe(0);
    oliviaTap.resultDelayMs = {};
    await settings.getByRole('button', { name: 'Close' }).click();
  }, 60_000);

  it('keeps the keyboard out of the conversation behind an open dialog, and gives focus back when it closes', async () => {
    // The care team opened last is the conversation behind the dialog, its message box ready.
    await composer().waitFor();
    expect(await composer().isEnabled()).toBe(true);
    const opener = alice.getByRole('button', { name: 'New care team' });
    const dialog = await newCareTeam('Bed 9 review');
    await screenshot(alice, 'dialog-inert');

    // From a click on the dialog's title (no control: the keyboard starts from there), both ways round.
    const reached: string[] = [];
    for (const key of ['Shift+Tab', 'Tab']) {
      await dialog.getByRole('heading', { name: 'New care team' }).click();
      for (let i = 0; i < 15; i++) {
        await alice.keyboard.press(key);
        reached.push(await focusedWhere());
      }
    }
    // Past the page's first or last control the focus may leave it (for the browser's own): nothing in the page.
    expect(reached.filter((where) => where !== 'dialog' && where !== 'nothing')).toEqual([]);
    expect(reached.filter((where) => where === 'dialog').length).toBeGreaterThan(20);

    // Typed with the focus on no control of the dialog: nothing lands in the message box behind it.
    await dialog.getByRole('heading', { name: 'New care team' }).click();
    await alice.keyboard.press('Shift+Tab');
    await alice.keyboard.type('typed behind the dialog');
    expect(await composer().inputValue()).toBe('');

    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await opener.and(alice.locator(':focus')).count()).toBe(1);
    await composer().fill('Bed 9: obs due at 14:00');
    expect(await composer().inputValue()).toBe('Bed 9: obs due at 14:00');
  }, 60_000);

  it('closes the open dialog on Escape wherever the focus is in it, its own text included', async () => {
    const opener = alice.getByRole('button', { name: 'New care team' });
    await opener.click();
    const dialog = alice.getByRole('dialog', { name: 'New care team' });
    // A click on the dialog's text leaves the focus on no control: the page's body has it.
    await dialog.getByRole('heading', { name: 'New care team' }).click();
    expect(await focusedWhere()).toBe('nothing');
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await opener.and(alice.locator(':focus')).count()).toBe(1);

    // On one of its controls, as before.
    await opener.click();
    await dialog.getByLabel('Care team name').focus();
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // The next dialog opened closes the same way, and Escape with none open changes nothing.
    await alice.getByRole('button', { name: 'Settings' }).click();
    const settings = alice.getByRole('dialog', { name: 'Settings' });
    await settings.getByRole('heading', { name: 'Audit log' }).click();
    await alice.keyboard.press('Escape');
    await settings.waitFor({ state: 'hidden' });
    await alice.keyboard.press('Escape');
    expect(await alice.getByRole('dialog').count()).toBe(0);
    await composer().fill('Bed 9: obs done');
    expect(await composer().inputValue()).toBe('Bed 9: obs done');
  }, 60_000);

  it('shows the focus ring where the app puts the focus, not where a click does', async () => {
    /** The ring of the focus styles (styles.css): 3 px of #1d4ed8, over 5.8:1 against every background it sits on. */
    const ring = (name: string) => ({ name, visible: true, widthPx: 3, color: 'rgb(29, 78, 216)' });
    // Opened with a click, the dialog gets the focus on its first control: shown, though the last thing done was a click.
    const opener = alice.getByRole('button', { name: 'New care team' });
    await opener.click();
    const dialog = alice.getByRole('dialog', { name: 'New care team' });
    await expect.poll(() => focusRing(alice)).toEqual(ring('Close'));
    await screenshot(alice, 'focus-dialog-opened');
    // Closed with a click, it gives the focus back to its opener: shown there too.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => focusRing(alice)).toEqual(ring('New care team'));
    await screenshot(alice, 'focus-dialog-closed');
    // Pressed with the mouse, the control the app marked loses its ring, keeping the focus (as :focus-visible has it).
    const box = (await opener.boundingBox())!;
    await alice.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await alice.mouse.down();
    expect(await focusRing(alice)).toMatchObject({ name: 'New care team', visible: false });
    await alice.mouse.up();
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // A click on a control focuses it with no ring.
    const conversation = alice.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /^Bed 7 review/ });
    await conversation.click();
    expect(await conversation.and(alice.locator(':focus')).count()).toBe(1);
    expect(await focusRing(alice)).toMatchObject({ visible: false });
  }, 60_000);

  it('gives the lock screen the keyboard when the app locks with a dialog open', async () => {
    const dialog = await newCareTeam('Bed 10 review');
    await expect.poll(focusedWhere).toBe('dialog');
    // The core locks (as the inactivity timer does): the whole main window goes, the dialog with it.
    await alice.evaluate(async () => {
      const rounds = (globalThis as unknown as { rounds: { invoke(command: string, input: unknown): Promise<unknown> } }).rounds;
      await rounds.invoke('session.lock', {});
    });
    await alice.getByRole('button', { name: 'Unlock' }).waitFor();
    await dialog.waitFor({ state: 'detached' });
    const passphrase = alice.getByLabel('Passphrase');
    expect(await passphrase.and(alice.locator(':focus')).count()).toBe(1);
    // Where the keyboard is, is seen: the field has the focus ring.
    expect(await focusRing(alice)).toMatchObject({ visible: true, widthPx: 3, color: 'rgb(29, 78, 216)' });
    await screenshot(alice, 'focus-lock-passphrase');
    expect(await alice.locator('[inert]').count()).toBe(0);
    // Typed straight away, with no click first: it goes into the passphrase field, and Enter unlocks.
    await alice.keyboard.type(PASSPHRASE);
    expect(await passphrase.inputValue()).toBe(PASSPHRASE);
    await alice.keyboard.press('Enter');
    await alice.getByRole('button', { name: 'Lock now' }).waitFor();
  }, 60_000);

  it('says a dropped connection and a request to sign in again while a dialog is open, and each only once', async () => {
    // With no dialog open the header's state is said by the live region alone: the header itself has no live role.
    await heard('status').filter({ hasText: /^Connected$/ }).waitFor();
    expect(await alice.getByRole('status').filter({ hasText: /^Connected$/ }).count()).toBe(1);
    await alice.getByRole('button', { name: 'Settings' }).click();
    const settings = alice.getByRole('dialog', { name: 'Settings' });
    await settings.waitFor();
    expect(await alice.locator('#root[inert]').count()).toBe(1);

    // The connection drops, then the relay asks for the organisation's sign-in: both heard behind the dialog.
    tap.emit({ type: 'connection', state: 'offline' });
    await heard('status').filter({ hasText: /^Offline: messages will be sent when the connection is back$/ }).waitFor();
    tap.emit({ type: 'connection', state: 'signInAgain' });
    const asked = heard('alert').filter({ hasText: /^Your organisation asks you to sign in again\./ });
    await asked.waitFor();
    // The alert says it; the connection's status says nothing more ("Sign-in needed" would say it twice).
    await expect.poll(() => heard('status').filter({ hasText: /^Offline/ }).count()).toBe(0);
    expect(await heard('status').filter({ hasText: /^Sign-in needed$/ }).count()).toBe(0);
    expect(await asked.evaluate((el) => el.closest('[inert]') === null)).toBe(true);
    await screenshot(alice, 'dialog-sign-in-again');

    // Closed, the dialog leaves the banner to act on; it is said once (the live region's alert), not twice.
    await settings.getByRole('button', { name: 'Close' }).click();
    await alice.locator('#root .banner').filter({ hasText: 'Your organisation asks you to sign in again.' }).getByRole('button', { name: /^Sign in with/ }).waitFor();
    expect(await alice.getByRole('alert').count()).toBe(1);
    expect(await seriousA11yViolations(alice)).toEqual([]);
    await screenshot(alice, 'sign-in-again');

    tap.emit({ type: 'connection', state: 'online' });
    await heard('status').filter({ hasText: /^Connected$/ }).waitFor();
    await asked.waitFor({ state: 'detached' });
    expect(await alice.locator('#root .banner').count()).toBe(0);
  }, 60_000);
});
