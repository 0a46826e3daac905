import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Browser, Page } from 'playwright-core';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import type { ConversationId, UserId } from '../../shared/ids';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../scripts/web';
import { DEFAULT_POLICY } from '../../shared/policy';
import { chromiumMissing, enrollThroughUi, type BridgeTap, launchChromium, liveRegionWhenShown, openTappedWorkstation, openWorkstation, screenshot, seriousA11yViolations } from '../fixtures/browser';
import { builtRenderer } from '../fixtures/builtRenderer';
import { nextTotp, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { FAST_KDF, PASSPHRASE, PASSWORD } from '../fixtures/workstation';

/*
 * The real React UI in Debian's Chromium, through the browser harness (a real main/core per workstation,
 * an embedded relay): enrollment, 1:1 and care-team messaging with receipts, member removal, an identity
 * change, Lock now, auto-lock, screenshots for review and an axe-core scan of every screen.
 */
const missing = chromiumMissing();
if (missing) console.log(`UI end-to-end tests skipped: ${missing}`);

describe.skipIf(missing !== null)('the Rounds UI in Chromium', () => {
  const dirs: string[] = [];
  let rendererDir: string;
  let harness: Harness;
  let harnessDir: string;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let carol: Page;
  /** Dr. Dev Patel's workstation, whose bridge traffic the tests hold back and bunch up. */
  let dev: Page;
  let devTap: BridgeTap;
  const a11y: Record<string, string[]> = {};

  const check = async (page: Page, screen: string) => {
    await screenshot(page, screen);
    a11y[screen] = (await seriousA11yViolations(page)).map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes})`);
  };
  const code = (username: string) => harness.demoCodes.find((d) => d.username === username)!.code;
  const openConversation = async (page: Page, title: RegExp) => page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: title }).click();
  const history = (page: Page) => page.getByRole('log', { name: 'Conversation history' });
  /** Whether the message with exactly this text is on screen, inside the history's visible area. */
  const inView = (page: Page, text: string) => history(page).getByText(text, { exact: true }).evaluateAll((found) => found.some((el) => {
    const log = el.closest('[role=log]')?.getBoundingClientRect();
    const box = el.getBoundingClientRect();
    return log !== undefined && box.top >= log.top && box.bottom <= log.bottom;
  }));

  /**
   * Waits for a message in the open conversation. If it never shows, the error says which conversation is open and
   * where this workstation's core holds the text, if anywhere: the screen, the sender, or delivery.
   */
  const shown = async (page: Page, text: string) => {
    try {
      await history(page).getByText(text).waitFor();
    } catch (error) {
      const open = await page.getByRole('main').getByRole('heading', { level: 1 }).first().textContent().catch(() => null);
      const held = await page.evaluate(async (query) => {
        type Result = { ok: boolean; value?: unknown };
        const rounds = (globalThis as unknown as { rounds: { invoke(command: string, input: unknown): Promise<Result> } }).rounds;
        const conversations = ((await rounds.invoke('conversations.list', {})).value ?? []) as { id: string; title: string }[];
        const found = ((await rounds.invoke('messages.search', { query, limit: 10 })).value ?? []) as { conversationId: string }[];
        return found.map((m) => conversations.find((c) => c.id === m.conversationId)?.title ?? m.conversationId);
      }, text).catch((e: unknown) => [`(not asked: ${String(e)})`]);
      throw new Error(`"${text}" not shown with "${open}" open; this workstation holds it in: ${held.length > 0 ? held.join(', ') : 'no conversation'}`, { cause: error });
    }
  };

  beforeAll(async () => {
    rendererDir = await builtRenderer();
    harnessDir = tempDataDir();
    dirs.push(harnessDir);
    harness = await startHarness({ port: 0, dataDir: harnessDir, policy: DEFAULT_POLICY, fastKdf: true, rendererDir });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
    for (const d of dirs) removeDir(d);
  });

  it('enrolls two clinicians who message each other, with delivery and read states', async () => {
    alice = await openWorkstation(browser, harness, 'alice');
    await alice.getByLabel('Username').waitFor();
    await check(alice, 'enroll-1-code');
    // The profile name is not the username: the relay does not say which of the two fields is wrong, the screen names both.
    await alice.getByLabel('Username').fill('alice');
    await alice.getByLabel('Enrollment code').fill(code('amoreau'));
    await alice.getByRole('button', { name: 'Continue' }).click();
    await alice.getByRole('alert').getByText('That username and enrollment code don’t match').waitFor();
    await enrollThroughUi(alice, 'amoreau', code('amoreau'), 'alice');
    bob = await openWorkstation(browser, harness, 'bob');
    await enrollThroughUi(bob, 'bokafor', code('bokafor'));
    await check(alice, 'main-empty');

    await alice.getByRole('button', { name: 'New conversation' }).click();
    await check(alice, 'dialog-new-conversation');
    // Carol has not enrolled yet: she is listed, marked, and can be picked once she has.
    const carolEntry = alice.getByRole('dialog').getByRole('button', { name: /Dr. Carol Nguyen/ });
    await expect(carolEntry.textContent()).resolves.toContain('Not yet reachable');
    await expect(carolEntry.isDisabled()).resolves.toBe(true);
    await alice.getByRole('dialog').getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    await alice.getByLabel('Message', { exact: true }).fill('Bed 12: potassium 5.9, repeat in 2h');
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await alice.getByRole('button', { name: 'Urgent' }).click();
    await alice.getByLabel('Why is it urgent?').selectOption('Needs review within 15 minutes');
    await alice.getByLabel('Message', { exact: true }).fill('Please review the ECG before 14:00');
    await alice.getByRole('button', { name: 'Send' }).click();
    await history(alice).getByText('Delivered').first().waitFor();

    await openConversation(bob, /Dr. Alice Moreau/);
    await history(bob).getByText('Please review the ECG before 14:00').waitFor();
    await expect(history(bob).locator('.urgent-label').count()).resolves.toBe(1);
    await bob.getByLabel('Message', { exact: true }).fill('On it.');
    await bob.getByLabel('Message', { exact: true }).press('Shift+Enter');
    await bob.getByLabel('Message', { exact: true }).pressSequentially('Repeat K+ drawn.');
    await bob.getByLabel('Message', { exact: true }).press('Enter');
    await history(alice).getByText(/On it\.\s+Repeat K\+ drawn\./).waitFor();
    // Bob opened the conversation: Alice's messages are read.
    // Alice's two messages are one run: its state is shown once, on the last of them.
    await history(alice).getByText('Read', { exact: true }).waitFor();
    await expect(history(alice).getByText(/^(Sending…|Sent|Delivered|Read)$/).count()).resolves.toBe(1);
    await check(alice, 'conversation');
  }, 120_000);

  it('says "Connected" after an enrollment and an unlock however fast the connection comes up', async () => {
    const { enrollmentCode } = await harness.relay.accounts.addUser('dpatel', 'Dr. Dev Patel', 'clinician');
    ({ page: dev, tap: devTap } = await openTappedWorkstation(browser, harness, 'dpatel'));
    const page = dev;
    // As on a busy ward PC: the page's CPU slowed down, the core's events in one burst.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
    const connection = page.locator('.connection');
    await enrollThroughUi(page, 'dpatel', enrollmentCode);
    await expect.poll(() => connection.textContent(), { timeout: 10_000 }).toBe('Connected');
    await page.getByRole('button', { name: 'Lock now' }).click();
    await page.getByLabel('Passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => connection.textContent(), { timeout: 10_000 }).toBe('Connected');
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  }, 120_000);

  it('sends a message written and entered while the previous one was still being sent', async () => {
    const [page, tap] = [dev, devTap];
    // The core takes its time with the first message: Enter on the second one is not lost.
    await page.getByRole('button', { name: 'New conversation' }).click();
    await page.getByRole('dialog').getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    const box = page.getByLabel('Message', { exact: true });
    tap.resultDelayMs['messages.send'] = 1500;
    await box.fill('First: BP 90/60');
    await box.press('Enter');
    await box.fill('Second: starting fluids');
    await box.press('Enter');
    await expect(box.inputValue()).resolves.toBe('');
    await history(page).getByText('Second: starting fluids').waitFor({ timeout: 10_000 });
    expect(await history(page).getByText(/^(First|Second): /).allTextContents()).toEqual(['First: BP 90/60', 'Second: starting fluids']);
    tap.resultDelayMs['messages.send'] = 0;
  }, 120_000);

  it('keeps messages entered just before "Lock now": they were already in the outbox', async () => {
    const [page, tap] = [dev, devTap];
    const box = page.getByLabel('Message', { exact: true });
    tap.resultDelayMs['messages.send'] = 2000;
    for (const text of ['Q1: K+ 6.1 in bed 3', 'Q2: repeat ECG', 'Q3: call renal']) {
      await box.fill(text);
      await box.press('Enter');
    }
    await page.getByRole('button', { name: 'Lock now' }).click();
    await page.getByLabel('Passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();
    tap.resultDelayMs['messages.send'] = 0;
    await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    await history(page).getByText('Q3: call renal').waitFor({ timeout: 10_000 });
    expect(await history(page).getByText(/^Q\d: /).allTextContents()).toEqual(['Q1: K+ 6.1 in bed 3', 'Q2: repeat ECG', 'Q3: call renal']);
  }, 120_000);

  it('a refused message comes back on its own; the urgent one entered after it is sent, still urgent', async () => {
    const [page, tap] = [dev, devTap];
    const box = page.getByLabel('Message', { exact: true });
    tap.refuseSendContaining = 'refused by the core';
    tap.resultDelayMs['messages.send'] = 500;
    await box.fill('First: refused by the core');
    await box.press('Enter');
    await box.fill('Second: bed 7 arrest, come now');
    await page.getByRole('button', { name: 'Urgent' }).click();
    await page.getByLabel('Why is it urgent?').selectOption('Deteriorating patient');
    await box.press('Enter');
    const unsent = page.getByRole('list', { name: 'Messages not sent' });
    await unsent.getByText('First: refused by the core').waitFor({ timeout: 10_000 });
    const second = history(page).getByRole('article').filter({ hasText: 'Second: bed 7 arrest, come now' });
    await second.getByText('Urgent', { exact: false }).first().waitFor();
    await expect(history(page).getByText('First: refused by the core').count()).resolves.toBe(0);
    tap.refuseSendContaining = null;
    tap.resultDelayMs['messages.send'] = 0;
    // Put back into the empty box, alone, and sent.
    await expect(box.inputValue()).resolves.toBe('');
    await unsent.getByRole('button', { name: 'Put back in the box' }).click();
    await expect(box.inputValue()).resolves.toBe('First: refused by the core');
    await box.press('Enter');
    await history(page).getByText('First: refused by the core').waitFor();
    await expect(unsent.count()).resolves.toBe(0);
  }, 120_000);

  it('offers "Retry" on a message still sending only once it is overdue, not right after it was sent', async () => {
    const [page, tap] = [dev, devTap];
    // The core says both are still in the outbox: the second sent just now, the first 20 s ago.
    tap.rewriteMessage = (m) => (m.body === 'Second: starting fluids' ? { ...m, state: 'pending', sentAt: Date.now() }
      : m.body === 'First: BP 90/60' ? { ...m, state: 'pending', sentAt: Date.now() - 20_000 } : m);
    await page.reload();
    await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    const message = (text: string) => history(page).getByRole('article').filter({ hasText: text });
    await message('Second: starting fluids').getByText('Sending…').waitFor();
    await message('First: BP 90/60').getByRole('button', { name: 'Retry' }).waitFor();
    await expect(message('Second: starting fluids').getByRole('button', { name: 'Retry' }).count()).resolves.toBe(0);
    tap.rewriteMessage = null;
    await page.context().close();
  }, 60_000);

  it('runs a care team with a third clinician, and a removed member receives nothing more', async () => {
    carol = await openWorkstation(browser, harness, 'carol');
    await enrollThroughUi(carol, 'cnguyen', code('cnguyen'));
    await alice.getByRole('button', { name: 'New care team' }).click();
    await alice.getByLabel('Care team name').fill('Ward 4 bed 12');
    await alice.getByRole('dialog').getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    await alice.getByRole('dialog').getByRole('button', { name: /Dr. Carol Nguyen/ }).click();
    await check(alice, 'dialog-new-care-team');
    await alice.getByRole('button', { name: 'Create care team' }).click();
    // Until the core's answer opens the team, the 1:1 with Bob is still open behind the dialog, and its message box
    // takes what is typed: a text typed then went to Bob alone (with the answer held back 1.5 s, every time).
    await alice.getByRole('main').getByRole('heading', { name: 'Ward 4 bed 12', exact: true }).waitFor();
    await alice.getByLabel('Message', { exact: true }).fill('Team: sepsis screen positive, starting fluids');
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    for (const page of [bob, carol]) {
      await openConversation(page, /Ward 4 bed 12/);
      await shown(page, 'sepsis screen positive');
    }
    await carol.getByLabel('Message', { exact: true }).fill('Lactate sent');
    await carol.getByLabel('Message', { exact: true }).press('Enter');
    await shown(alice, 'Lactate sent');
    await check(carol, 'care-team');

    await alice.getByRole('button', { name: 'Members', exact: true }).click();
    await check(alice, 'dialog-members');
    await alice.getByRole('button', { name: 'Remove Nurse Bob Okafor' }).click();
    await alice.getByRole('button', { name: 'Close' }).click();
    await bob.getByText('You were removed').waitFor();
    await expect(bob.getByLabel('Message', { exact: true }).isDisabled()).resolves.toBe(true);
    await alice.getByLabel('Message', { exact: true }).fill('Transferring to ICU bed 3');
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await shown(carol, 'Transferring to ICU bed 3');
    await bob.waitForTimeout(1000);
    await expect(bob.getByText('Transferring to ICU bed 3').count()).resolves.toBe(0);
  }, 120_000);

  it('shows a banner and blocks the composer when a contact\'s identity changes, until acknowledged', async () => {
    // Bob adds a second workstation: Alice has not seen that device.
    const bob2 = await openWorkstation(browser, harness, 'bob2');
    await bob2.getByRole('button', { name: 'Sign in to add this workstation' }).click();
    await bob2.getByLabel('Username').fill('bokafor');
    await bob2.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await bob2.getByLabel('One-time code').fill(await nextTotp('bokafor'));
    await bob2.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await bob2.getByLabel('Confirm passphrase').fill(PASSPHRASE);
    await bob2.getByLabel('Workstation name').fill('Ward 4 nurses station');
    await bob2.getByRole('button', { name: 'Sign in' }).click();
    await bob2.getByRole('button', { name: 'Lock now' }).waitFor();

    await openConversation(alice, /Nurse Bob Okafor/);
    await alice.getByLabel('Message', { exact: true }).fill('Can you cover bed 14?');
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await alice.getByText('safety number has changed').first().waitFor();
    await expect(alice.getByLabel('Message', { exact: true }).isDisabled()).resolves.toBe(true);
    await check(alice, 'identity-changed');
    await alice.getByRole('button', { name: 'Review safety number' }).click();
    await check(alice, 'dialog-safety-number');
    await alice.getByRole('button', { name: 'Accept new safety number' }).click();
    await alice.getByRole('button', { name: 'Close' }).click();
    // The composer is enabled once the acceptance reaches the core and back: waited for, not sampled once.
    await expect.poll(() => alice.getByLabel('Message', { exact: true }).isEnabled()).toBe(true);
    await openConversation(bob2, /Dr. Alice Moreau/);
    await history(bob2).getByText('Can you cover bed 14?').waitFor();
    // Settings lists the account's workstations by the names given when each was added.
    await bob2.getByRole('button', { name: 'Settings' }).click();
    const workstations = bob2.getByRole('dialog').locator('.device-list');
    await workstations.getByText('Ward 4 nurses station').waitFor({ timeout: 10_000 });
    expect((await workstations.textContent())?.replace(/\s+/g, ' ')).toMatch(/^Workstation\s*Ward 4 nurses station \(this workstation\)$/);
    await bob2.getByRole('button', { name: 'Close' }).click();
    await alice.getByRole('button', { name: 'Settings' }).click();
    // The harness has no OS key store: Settings says that only the passphrase protects this profile.
    await alice.getByRole('dialog').getByRole('note').filter({ hasText: 'Only your passphrase protects Rounds on this workstation' }).waitFor();
    await check(alice, 'dialog-settings');
    await alice.getByRole('button', { name: 'Close' }).click();
  }, 120_000);

  it('"Lock now" removes every message from the page; the passphrase brings the conversation back', async () => {
    await openConversation(alice, /Ward 4 bed 12/);
    await history(alice).getByText('Transferring to ICU bed 3').waitFor();
    // The live region held nothing the moment the lock screen (its passphrase field) appeared, not even for a
    // moment: what the main screen was saying leaves the DOM with it.
    const region = alice.locator('[data-live-region]');
    await expect.poll(() => region.textContent()).not.toBe('');
    const regionAtLock = await liveRegionWhenShown(alice, 'input[type=password]');
    await alice.getByRole('button', { name: 'Lock now' }).click();
    await alice.getByRole('button', { name: 'Unlock' }).waitFor();
    await expect(regionAtLock()).resolves.toBe('');
    const html = await alice.content();
    for (const text of ['potassium', 'ECG', 'Repeat K+', 'sepsis', 'Lactate', 'ICU', 'Ward 4', 'Okafor', 'Nguyen', 'bed 14']) expect(html).not.toContain(text);
    expect(await alice.title()).toBe('Rounds');
    await check(alice, 'lock-screen');
    await alice.getByLabel('Passphrase').fill('not my passphrase');
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByRole('alert').getByText('not right').waitFor();
    await alice.getByLabel('Passphrase').fill(PASSPHRASE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await openConversation(alice, /Ward 4 bed 12/);
    await history(alice).getByText('Transferring to ICU bed 3').waitFor();
    await alice.getByLabel('Search').fill('potassium');
    await alice.getByRole('region', { name: 'Search results' }).getByText('Bed 12: potassium 5.9').waitFor();
    await check(alice, 'search');
    // The time once ("… · 10:56 AM", not "… · 10:56 AM 10:56 AM").
    const head = await alice.getByRole('region', { name: 'Search results' }).locator('.result-head').first().textContent();
    expect(head).toMatch(/\d:\d\d/);
    expect(head).not.toMatch(/(\d{1,2}[:.]\d\d(?:\s?[AP]M)?)\D+\1/i);
    await alice.getByLabel('Search', { exact: true }).fill('');
  }, 60_000);

  it('pages through a 100,000-message conversation, rendering only what is on screen', async () => {
    // While Alice's workstation is locked, her encrypted history with Bob grows to 100,000 messages.
    await alice.getByRole('button', { name: 'Lock now' }).click();
    await alice.getByRole('button', { name: 'Unlock' }).waitFor();
    const profiles = new LocalProfiles(join(harnessDir, 'workstations', 'alice'), { kdf: FAST_KDF });
    const [entry] = profiles.list();
    const profile = await profiles.unlock(entry!.id, PASSPHRASE);
    const db = profile.database;
    const { id: conversation, peer } = db.get<{ id: ConversationId; peer: UserId }>(`SELECT id, peer FROM conversations WHERE kind = 'direct'`)!;
    const start = Date.now() - 100_000 * 60_000;
    // One statement: a minute apart, from Bob, already read.
    db.run(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
       INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body, urgent, read_at)
       SELECT printf('%08x-0000-4000-8000-%012x', i, i), $c, $peer, 1, $start + i * 60000, $start + i * 60000, 'Observation ' || i || ': obs stable', 0, $start + i * 60000 FROM n`,
      { c: conversation, peer, start },
    );
    expect(db.get<{ n: number }>('SELECT count(*) AS n FROM messages WHERE conversation_id = $c', { c: conversation })!.n).toBeGreaterThan(100_000);
    profile.lock();

    await alice.getByLabel('Passphrase').fill(PASSPHRASE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await openConversation(alice, /Nurse Bob Okafor/);
    await history(alice).getByText('Can you cover bed 14?').waitFor();
    const rendered = () => history(alice).locator('.row').count();
    expect(await rendered()).toBeLessThan(120);
    // Scrolling up pages older messages in from the core; the page keeps only what is near the view.
    const oldestShown = async () => Math.min(...(await history(alice).getByText(/^Observation \d+: obs stable$/).allTextContents()).map((t) => Number(/\d+/.exec(t)![0])));
    const before = await oldestShown();
    // (Scrolled to the top again until they have come: on a busy machine a page may take longer than a scroll.)
    await expect.poll(async () => {
      await history(alice).evaluate((el) => el.scrollTo({ top: 0 }));
      await alice.waitForTimeout(200);
      return oldestShown();
    }, { timeout: 15_000 }).toBeLessThan(before - 150);
    // ...in order, oldest at the top.
    const shown = (await history(alice).getByText(/^Observation \d+: obs stable$/).allTextContents()).map((t) => Number(/\d+/.exec(t)![0]));
    expect(shown).toEqual([...shown].sort((a, b) => a - b));
    expect(await rendered()).toBeLessThan(120);
    await check(alice, 'long-conversation');
  }, 120_000);

  it('opens a search result at the message found, highlighted, with the messages around it loaded', async () => {
    await alice.getByLabel('Search', { exact: true }).fill('Observation 4321');
    await alice.getByRole('region', { name: 'Search results' }).getByText('Observation 4321: obs stable').click();
    const found = history(alice).locator('article[aria-current="true"]');
    await found.getByText('Observation 4321: obs stable', { exact: true }).waitFor({ timeout: 10_000 });
    await expect.poll(() => inView(alice, 'Observation 4321: obs stable')).toBe(true);
    for (const near of ['Observation 4320: obs stable', 'Observation 4322: obs stable']) await history(alice).getByText(near, { exact: true }).waitFor();
    await check(alice, 'search-result-opened');
    // Scrolling down from there pages the newer messages in.
    const newestBefore = async () => Math.max(...(await history(alice).getByText(/^Observation \d+: obs stable$/).allTextContents()).map((t) => Number(/\d+/.exec(t)![0])));
    const before = await newestBefore();
    await expect.poll(async () => {
      await history(alice).evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
      await alice.waitForTimeout(200);
      return newestBefore();
    }, { timeout: 15_000 }).toBeGreaterThan(before + 40);
  }, 60_000);

  it('opens a conversation with many unread messages at the first of them, under a "New messages" line', async () => {
    await alice.getByRole('button', { name: 'Lock now' }).click();
    await alice.getByRole('button', { name: 'Unlock' }).waitFor();
    const profiles = new LocalProfiles(join(harnessDir, 'workstations', 'alice'), { kdf: FAST_KDF });
    const profile = await profiles.unlock(profiles.list()[0]!.id, PASSPHRASE);
    const db = profile.database;
    const { conversation_id: team, sender_user: carolId } = db.get<{ conversation_id: string; sender_user: string }>(`SELECT conversation_id, sender_user FROM messages WHERE body = 'Lactate sent'`)!;
    const start = Date.now() - 150 * 1000;
    db.run(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 149)
       INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body, urgent)
       SELECT printf('%08x-0000-4000-8000-%012x', i, 900000 + i), $c, $carol, 1, $start + i * 1000, $start + i * 1000, 'Unread note ' || i, 0 FROM n`,
      { c: team, carol: carolId, start },
    );
    profile.lock();
    await alice.getByLabel('Passphrase').fill(PASSPHRASE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await openConversation(alice, /Ward 4 bed 12/);
    await history(alice).getByRole('separator').filter({ hasText: 'New messages' }).waitFor({ timeout: 10_000 });
    await expect.poll(() => inView(alice, 'Unread note 0')).toBe(true);
    expect(await inView(alice, 'Unread note 149')).toBe(false);
    await check(alice, 'unread-marker');
  }, 60_000);

  it('locks by itself after the policy\'s inactivity time, with nothing of the conversation left in the page', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const short = await startHarness({ port: 0, dataDir, policy: { ...DEFAULT_POLICY, maxInactivityMinutes: 0.05 }, fastKdf: true, rendererDir });
    try {
      // Bob enrolls first (his window will lock by itself too), then Alice, who writes to him.
      const other = await openWorkstation(browser, short, 'bob');
      await enrollThroughUi(other, 'bokafor', short.demoCodes[1]!.code);
      const page = await openWorkstation(browser, short, 'alice');
      await enrollThroughUi(page, 'amoreau', short.demoCodes[0]!.code);
      await page.getByRole('button', { name: 'New conversation' }).click();
      await page.getByRole('dialog').getByRole('button', { name: /Nurse Bob Okafor/ }).click();
      await page.getByLabel('Message', { exact: true }).fill('Handover note for bed 9');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await history(page).getByText('Handover note for bed 9').waitFor();
      // No input from now on: the app locks within the limit plus one check interval.
      await page.getByRole('button', { name: 'Unlock' }).waitFor({ timeout: 20_000 });
      expect(await page.content()).not.toContain('Handover note');
      await page.getByLabel('Passphrase').fill(PASSPHRASE);
      await page.getByRole('button', { name: 'Unlock' }).click();
      await openConversation(page, /Nurse Bob Okafor/);
      await history(page).getByText('Handover note for bed 9').waitFor();
    } finally {
      await short.close();
    }
  }, 90_000);

  it('keeps the harness to its own loopback address and its secret: other hosts, other local processes, bad paths and frames are refused, not fatal', async () => {
    const url = new URL(harness.url);
    const request = (path: string, host: string) => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(await request('/', url.host)).toBe(200);
    expect(await request('/', 'evil.example')).toBe(421);
    expect(await request('/%E0%A4%A', url.host)).toBe(400);
    expect(await request('/../../etc/passwd', url.host)).toBe(404);
    // A page on another name (DNS rebinding) cannot open the bridge.
    const rebound = new WebSocket(`ws://${url.host}/bridge?profile=alice`, { headers: { host: 'evil.example', origin: 'http://evil.example' } });
    await expect(new Promise((resolve, reject) => { rebound.on('open', () => reject(new Error('opened'))); rebound.on('error', resolve); rebound.on('close', resolve); })).resolves.toBeDefined();
    // Another local process, same host and origin but without this start's secret (or with a wrong one),
    // cannot drive a profile.
    const refused = (headers: Record<string, string>) => new Promise<boolean>((resolve) => {
      const intruder = new WebSocket(`ws://${url.host}/bridge?profile=alice`, { origin: harness.url, headers });
      intruder.on('open', () => (intruder.close(), resolve(false)));
      intruder.on('error', () => resolve(true));
    });
    expect(await refused({})).toBe(true);
    expect(await refused({ cookie: `rounds-harness=${'x'.repeat(harness.token.length)}` })).toBe(true);
    // Garbage and oversized frames are answered or dropped; the harness keeps serving.
    const socket = new WebSocket(`ws://${url.host}/bridge?profile=alice`, { origin: harness.url, headers: { cookie: `rounds-harness=${harness.token}` } });
    await new Promise((resolve) => socket.on('open', resolve));
    const answer = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('not json');
    expect(await answer).toContain('malformed bridge frame');
    socket.send(Buffer.alloc(2 * 1024 * 1024, 1));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(await request('/', url.host)).toBe(200);
  });

  it('has no serious or critical accessibility violations on any screen', () => {
    expect(Object.keys(a11y).length).toBeGreaterThanOrEqual(10);
    expect(Object.fromEntries(Object.entries(a11y).filter(([, v]) => v.length > 0))).toEqual({});
  });
});
