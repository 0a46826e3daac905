import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../scripts/web';
import { OrgPolicySchema } from '../../shared/policy';
import { exifWithGps, jpegImageDataSample, multiPagePdf, withSegment } from '../fixtures/attachmentSamples';
import { chromiumMissing, enrollThroughUi, launchChromium, screenshot, seriousA11yViolations } from '../fixtures/browser';
import { builtRenderer } from '../fixtures/builtRenderer';
import { canvasInk, fileTransfer, installPageFiles, pasteScreenshot, takeCspViolations, woundPhotoJpeg } from '../fixtures/pageFiles';
import { useTempDirs } from '../fixtures/tempDirs';
import { PASSPHRASE } from '../fixtures/workstation';

/*
 * Photos and documents in the real React UI (issue 20), in Debian's Chromium through the browser harness (a real
 * main/core per workstation, an embedded relay): Dr. Moreau attaches a phone photo (with GPS position and camera
 * data in its EXIF) with the button, a three-page PDF by dropping it, and a pasted screenshot she removes again;
 * sends them to a care team; Nurse Okafor opens both in the viewer (zoom, rotate, page through: the canvas shows
 * the pages, under the app's CSP with no violation). Then a raw-byte scan of both profiles, the relay's data and
 * the OS temp directory finds neither file's content. Screenshots: test/artifacts/attachments-*.png.
 */
const missing = chromiumMissing();
if (missing) console.log(`UI attachment tests skipped: ${missing}`);

const RUN = `${process.pid}-${Date.now().toString(36)}`;
/** In the PDF's text (uncompressed: plain in the file's bytes). */
const PDF_MARKER = `ROUNDS-PDF-MARKER-${RUN}`;
/** In the photo's EXIF camera make, next to its GPS position: must not even reach the relay. */
const CAMERA_MARKER = `MarkerCam-${RUN}`;
const PHOTO_NAME = 'IMG_2041.jpg';
const PDF_NAME = 'Discharge summary bed 12.pdf';
const TEAM = 'Wound care bed 12';

/**
 * What the test does to Dr. Moreau's bridge traffic: hold the core's answers to staged chunks (`hold`) or the
 * progress events after an upload's first (`holdProgress`), as a slow network would space them out; or spoil
 * the next chunk. `release` lets everything held through.
 */
interface StagingTap {
  hold: boolean;
  holdProgress: boolean;
  spoilNextChunk: boolean;
  /** Rewrites what the core sends the page (an older or compromised core's views), when set. */
  rewrite: ((frame: string) => string) | null;
  release(): void;
}

async function openTapped(browser: Browser, harness: Harness, profile: string): Promise<{ page: Page; tap: StagingTap }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${profile}] page error: ${error.message}`));
  await installPageFiles(page);
  const held: (() => void)[] = [];
  const tap: StagingTap = { hold: false, holdProgress: false, spoilNextChunk: false, rewrite: null, release: () => held.splice(0).forEach((send) => send()) };
  await page.routeWebSocket(/\/bridge/, (ws) => {
    const server = ws.connectToServer();
    const holding = new Set<number>();
    ws.onMessage((message) => {
      const frame = JSON.parse(String(message)) as { id: number; command?: string; input?: { offset?: number } };
      if (frame.command === 'attachments.stageChunk' && (frame.input?.offset ?? 0) > 0) {
        if (tap.hold) holding.add(frame.id);
        if (tap.spoilNextChunk) {
          tap.spoilNextChunk = false;
          // Out of order, as a bridge that lost a chunk would send it: the core refuses it.
          server.send(JSON.stringify({ ...frame, input: { ...frame.input, offset: (frame.input?.offset ?? 0) + 1 } }));
          return;
        }
      }
      server.send(message);
    });
    server.onMessage((original) => {
      const message = tap.rewrite ? tap.rewrite(String(original)) : original;
      const frame = JSON.parse(String(message)) as { type: string; id?: number; event?: { type: string; state?: string; transferred?: number } };
      const progress = frame.event?.type === 'attachmentProgress' && tap.holdProgress && (frame.event.state !== 'uploading' || (frame.event.transferred ?? 0) > 0);
      if ((frame.type === 'result' && frame.id !== undefined && holding.delete(frame.id)) || progress) held.push(() => ws.send(message));
      else ws.send(message);
    });
  });
  await page.goto(harness.pageUrl(profile));
  return { page, tap };
}

/** A photo as a phone takes it: a JPEG (drawn in the page), with EXIF carrying a GPS position and the camera. */
async function phonePhoto(page: Page): Promise<Buffer> {
  return withSegment(await woundPhotoJpeg(page, 'Left heel, day 3'), exifWithGps(CAMERA_MARKER));
}

const VIEWER_CANVAS = 'canvas.viewer-canvas';

/** Files under `dir` (recursively) modified at or after `since`; unreadable entries are skipped. */
function filesWrittenSince(dir: string, since: number, skip: (path: string) => boolean): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (skip(path)) continue;
    if (entry.isDirectory()) out.push(...filesWrittenSince(path, since, skip));
    else if (entry.isFile()) {
      try {
        if (statSync(path).mtimeMs >= since) out.push(path);
      } catch {
        // Gone meanwhile (another process's temp file).
      }
    }
  }
  return out;
}

describe.skipIf(missing !== null)('photos and documents in the UI', () => {
  const dir = useTempDirs();
  const started = Date.now();
  let harness: Harness;
  let harnessDir: string;
  let rendererDir: string;
  let browser: Browser;
  let alice: Page;
  let aliceTap: StagingTap;
  let bob: Page;
  let bobTap: StagingTap;
  let photo: Buffer;
  const pdf = multiPagePdf(PDF_MARKER, 3, 2_300_000);
  const history = (page: Page) => page.getByRole('log', { name: 'Conversation history' });
  const viewer = (page: Page) => page.getByRole('dialog');

  beforeAll(async () => {
    rendererDir = await builtRenderer();
    harnessDir = dir();
    // Files up to 1 MiB come by themselves (the photo); larger ones when opened (the PDF).
    harness = await startHarness({ port: 0, dataDir: harnessDir, policy: OrgPolicySchema.parse({ attachments: { autoDownloadBytes: 1024 * 1024 } }), fastKdf: true, rendererDir });
    browser = await launchChromium();
    const code = (username: string) => harness.demoCodes.find((d) => d.username === username)!.code;
    ({ page: alice, tap: aliceTap } = await openTapped(browser, harness, 'alice'));
    await enrollThroughUi(alice, 'amoreau', code('amoreau'));
    ({ page: bob, tap: bobTap } = await openTapped(browser, harness, 'bob'));
    await enrollThroughUi(bob, 'bokafor', code('bokafor'));
    photo = await phonePhoto(alice);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('a clinician attaches a photo and a PDF and sends them to a care team', async () => {
    await alice.getByRole('button', { name: 'New care team' }).click();
    await alice.getByLabel('Care team name').fill(TEAM);
    await alice.getByRole('dialog').getByRole('button', { name: /Nurse Bob Okafor/ }).click();
    await alice.getByRole('button', { name: 'Create care team' }).click();
    const staged = alice.getByRole('list', { name: 'Attachments to send' });

    // The photo with the attach button's file picker.
    await alice.locator('input[type=file]').setInputFiles({ name: PHOTO_NAME, mimeType: 'image/jpeg', buffer: photo });
    await staged.getByText('location and camera data removed').waitFor();
    await alice.getByText('Location and camera data are removed from photos before sending.').waitFor();

    // A screenshot pasted into the message box is attached too (and taken off again).
    await pasteScreenshot(alice, 'textarea[aria-label="Message"]');
    await staged.getByText('image.png').waitFor();
    await staged.getByRole('button', { name: 'Remove image.png' }).click();
    await expect.poll(() => staged.getByRole('listitem').count()).toBe(1);

    // The PDF dropped onto the conversation; its staging held after the first chunk for the progress bar's screenshot.
    aliceTap.hold = true;
    const drop = await fileTransfer(alice, pdf, PDF_NAME, 'application/pdf');
    const conversation = alice.locator('section.conversation');
    await conversation.dispatchEvent('dragenter', { dataTransfer: drop });
    await alice.getByText('Drop to attach to your message').waitFor();
    await conversation.dispatchEvent('dragover', { dataTransfer: drop });
    await conversation.dispatchEvent('drop', { dataTransfer: drop });
    const progress = alice.getByRole('progressbar', { name: `Attaching ${PDF_NAME}` });
    // (Up to 10 s: on a loaded machine the first megabyte can take longer than the poll's default second.)
    await expect.poll(async () => Number(await progress.getAttribute('aria-valuenow')), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect(progress.getAttribute('aria-valuetext')).resolves.toMatch(/^Attaching… 1(\.0)? MB of 2\.\d MB$/);
    await screenshot(alice, 'attachments-progress');

    // The next chunk goes wrong: the file says so, and "Try again" attaches it.
    aliceTap.hold = false;
    aliceTap.spoilNextChunk = true;
    aliceTap.release();
    await staged.getByText(/^Not attached:/).waitFor();
    await staged.getByRole('button', { name: `Try attaching ${PDF_NAME} again` }).click();
    await expect.poll(() => progress.count(), { timeout: 20_000 }).toBe(0);
    await expect(staged.getByText(/^Not attached:/).count()).resolves.toBe(0);
    await screenshot(alice, 'attachments-composer');

    await alice.getByLabel('Message', { exact: true }).fill('Left heel wound, day 3; discharge summary attached');
    aliceTap.holdProgress = true;
    await alice.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => staged.count()).toBe(0);
    const sent = history(alice).getByRole('article').filter({ hasText: 'Left heel wound, day 3' });
    // The uploads under way show on the message, each with Cancel (the later progress held back for the screenshot).
    await sent.getByRole('progressbar', { name: `Sending ${PDF_NAME}` }).waitFor();
    await sent.getByRole('button', { name: `Cancel: Sending ${PDF_NAME}` }).waitFor();
    await screenshot(alice, 'attachments-progress-conversation');
    aliceTap.holdProgress = false;
    aliceTap.release();
    await sent.getByRole('button', { name: new RegExp(`^Open ${PHOTO_NAME}`) }).waitFor();
    await sent.getByRole('button', { name: new RegExp(`^Open ${PDF_NAME}`) }).waitFor();
    // Both uploads finish: no progress bar is left on the message, and it is delivered.
    await expect.poll(() => sent.getByRole('progressbar').count(), { timeout: 30_000 }).toBe(0);
    await sent.getByText(/^(Delivered|Read)$/).waitFor({ timeout: 30_000 });
  }, 120_000);

  it('the care team member opens the photo and pages through the PDF in the viewer', async () => {
    await bob.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: new RegExp(TEAM) }).click();
    const message = history(bob).getByRole('article').filter({ hasText: 'Left heel wound, day 3' });
    await message.locator('img.thumbnail').waitFor();
    // The photo came by itself (under the policy's size): drawn sharp from its bytes over the small thumbnail.
    await message.locator('canvas.sharp-preview').waitFor({ timeout: 20_000 });
    await screenshot(bob, 'attachments-conversation');
    expect((await seriousA11yViolations(bob)).map((v) => `${v.id}: ${v.help}`)).toEqual([]);
    await takeCspViolations(bob);

    await message.getByRole('button', { name: new RegExp(`open ${PHOTO_NAME}`, 'i') }).click();
    const photoCanvas = viewer(bob).getByRole('img', { name: PHOTO_NAME });
    await photoCanvas.waitFor({ timeout: 20_000 });
    await expect.poll(async () => (await canvasInk(bob, VIEWER_CANVAS)).inked, { timeout: 10_000 }).toBeGreaterThan(10_000);
    const before = await photoCanvas.boundingBox();
    await bob.keyboard.press('+');
    await bob.keyboard.press('r');
    await viewer(bob).getByRole('img', { name: `${PHOTO_NAME}, turned 90°` }).waitFor();
    const after = await viewer(bob).locator('canvas').boundingBox();
    // Turned a quarter: the landscape photo now stands upright, and zoomed in, taller than it was before.
    expect(after!.height).toBeGreaterThan(after!.width);
    expect(after!.height).toBeGreaterThan(before!.height);
    await screenshot(bob, 'attachments-viewer-image');
    expect((await seriousA11yViolations(bob)).map((v) => `${v.id}: ${v.help}`)).toEqual([]);
    await bob.keyboard.press('Escape');
    await expect.poll(() => viewer(bob).count()).toBe(0);

    // The PDF is larger than what comes by itself: it says so, and opening it downloads it.
    await message.getByText('Not downloaded yet: open it to download').waitFor();
    await message.getByRole('button', { name: new RegExp(`^Download and open ${PDF_NAME}`) }).click();
    const page = viewer(bob).locator('canvas.viewer-canvas[data-rendered]');
    await viewer(bob).getByRole('img', { name: 'Page 1 of 3' }).waitFor({ timeout: 20_000 });
    await page.waitFor({ timeout: 20_000 });
    const first = await canvasInk(bob, VIEWER_CANVAS);
    expect(first.inked).toBeGreaterThan(5_000);
    await viewer(bob).getByRole('button', { name: 'Next page' }).click();
    await viewer(bob).getByRole('img', { name: 'Page 2 of 3' }).waitFor();
    await expect.poll(async () => (await canvasInk(bob, VIEWER_CANVAS)).fingerprint).not.toBe(first.fingerprint);
    await bob.keyboard.press('PageDown');
    await viewer(bob).getByRole('img', { name: 'Page 3 of 3' }).waitFor();
    await expect(viewer(bob).getByRole('button', { name: 'Next page' }).isDisabled()).resolves.toBe(true);
    await expect.poll(async () => (await canvasInk(bob, VIEWER_CANVAS)).inked).toBeGreaterThan(5_000);
    await screenshot(bob, 'attachments-viewer-pdf');
    // pdf.js ran under the app's policy: no eval, no blob: worker, no fetch, nothing refused.
    await expect(takeCspViolations(bob)).resolves.toEqual([]);
    await bob.keyboard.press('Escape');
  }, 90_000);

  it('the photo arrives without its location and camera data, and the same picture', async () => {
    const original = await bob.evaluate(async (name) => {
      type Result = { ok: boolean; value: unknown };
      const rounds = (globalThis as unknown as { rounds: { invoke(command: string, input: unknown): Promise<Result> } }).rounds;
      const call = async <T>(command: string, input: unknown) => {
        const result = await rounds.invoke(command, input);
        if (!result.ok) throw new Error(`${command}: ${JSON.stringify(result)}`);
        return result.value as T;
      };
      const conversations = await call<{ id: string; title: string }[]>('conversations.list', {});
      const team = conversations.find((c) => c.title === name)!;
      const messages = await call<{ id: string; attachments: { id: string; contentType: string }[] }[]>('messages.page', { conversationId: team.id, limit: 10 });
      const message = messages.find((m) => m.attachments.length > 0)!;
      const image = message.attachments.find((a) => a.contentType === 'image/jpeg')!;
      const chunks: string[] = [];
      for (let offset = 0, total = 1; offset < total;) {
        const chunk = await call<{ total: number; data: string }>('attachments.read', { messageId: message.id, attachmentId: image.id, variant: 'original', offset, length: 1024 * 1024 });
        total = chunk.total;
        chunks.push(chunk.data);
        offset += atob(chunk.data).length;
      }
      return chunks;
    }, TEAM);
    const received = Buffer.concat(original.map((chunk) => Buffer.from(chunk, 'base64')));
    expect(received.includes(CAMERA_MARKER)).toBe(false);
    expect(received.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(false);
    expect(received.includes(jpegImageDataSample(photo))).toBe(true);
  }, 30_000);

  it('shows a file named with a right-to-left override by its real name, the real extension last', async () => {
    // "invoice" + RIGHT-TO-LEFT OVERRIDE + "fdp.exe" reads "invoiceexe.pdf" where the override is honoured.
    const posing = 'invoice\u202Efdp.exe';
    // The PDF viewer of the test before may still be open on Bob's screen.
    if ((await viewer(bob).count()) > 0) await viewer(bob).getByRole('button', { name: 'Close viewer' }).click();
    await expect.poll(() => viewer(bob).count()).toBe(0);
    await alice.locator('input[type=file]').setInputFiles({ name: posing, mimeType: 'application/pdf', buffer: Buffer.concat([Buffer.from('MZ'), Buffer.alloc(4000, 0x90)]) });
    const staged = alice.getByRole('list', { name: 'Attachments to send' });
    // The sender's own core took the override out before the name was shown or sent.
    await staged.getByText('invoicefdp', { exact: false }).waitFor();
    await alice.getByLabel('Message', { exact: true }).fill('Invoice for the dressings');
    await alice.getByRole('button', { name: 'Send' }).click();
    // A modified sender (or an older core) could still hand the page the name as it was: Bob's page is given it raw.
    let rewritten = 0;
    bobTap.rewrite = (frame) => {
      if (frame.includes('invoicefdp.exe')) rewritten++;
      return frame.replaceAll('invoicefdp.exe', 'invoice\\u202Efdp.exe');
    };
    const message = history(bob).getByRole('article').filter({ hasText: 'Invoice for the dressings' });
    await message.waitFor({ timeout: 30_000 });
    const name = message.locator('.attachment-name .file-name');
    await name.waitFor();
    expect(await name.evaluate((el) => el.textContent)).toBe('invoicefdp.exe');
    expect(await name.locator('.file-extension').textContent()).toBe('.exe');
    // Drawn left to right: the stem, then ".exe" at the right end (not "exe.pdf").
    const stem = await name.locator('.file-stem').boundingBox();
    const extension = await name.locator('.file-extension').boundingBox();
    expect(extension!.x).toBeGreaterThanOrEqual(stem!.x + stem!.width - 1);
    await message.getByRole('button', { name: /^(Open|Download and open) invoicefdp\.exe/ }).waitFor();
    expect(rewritten).toBeGreaterThan(0);
    await message.scrollIntoViewIfNeeded();
    await screenshot(bob, 'attachments-rtl-name');
    bobTap.rewrite = null;
  }, 60_000);

  it('refuses to open a PDF of an absurd number of pages, and says why', async () => {
    await alice.locator('input[type=file]').setInputFiles({ name: 'chart export.pdf', mimeType: 'application/pdf', buffer: multiPagePdf('chart', 2001) });
    await alice.getByRole('list', { name: 'Attachments to send' }).getByText('chart export').waitFor();
    await alice.getByLabel('Message', { exact: true }).fill('Full chart export');
    await alice.getByRole('button', { name: 'Send' }).click();
    const message = history(bob).getByRole('article').filter({ hasText: 'Full chart export' });
    await message.getByRole('button', { name: /^(Open|Download and open) chart export\.pdf/ }).click({ timeout: 30_000 });
    await viewer(bob).getByRole('alert').filter({ hasText: 'This PDF has 2,001 pages; Rounds opens PDFs of up to 2,000 pages.' }).waitFor({ timeout: 30_000 });
    await expect(viewer(bob).locator('canvas').count()).resolves.toBe(0);
    await screenshot(bob, 'attachments-too-many-pages');
    await viewer(bob).getByRole('button', { name: 'Close viewer' }).click();
  }, 60_000);

  it('forgets the photos it decoded when the session locks: after unlocking they are read from the core again', async () => {
    // A new page (its bridge socket watched from the start); the photo's sharp preview is read from the core for it.
    let reads = 0;
    bob.on('websocket', (socket) => socket.on('framesent', ({ payload }) => {
      if (String(payload).includes('"attachments.read"')) reads++;
    }));
    await bob.reload();
    const conversation = bob.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: new RegExp(TEAM) });
    const photo = () => history(bob).getByRole('article').filter({ hasText: 'Left heel wound, day 3' }).locator('canvas.sharp-preview');
    await conversation.click({ timeout: 20_000 });
    await photo().waitFor({ timeout: 20_000 });
    expect(reads).toBeGreaterThan(0);
    // Locked and unlocked: drawn again, from bytes read again, not from a bitmap the page kept through the lock.
    await bob.getByRole('button', { name: 'Lock now' }).click();
    await bob.getByLabel('Passphrase').fill(PASSPHRASE);
    reads = 0;
    await bob.getByRole('button', { name: 'Unlock' }).click();
    await conversation.click({ timeout: 20_000 });
    await photo().waitFor({ timeout: 20_000 });
    expect(reads).toBeGreaterThan(0);
  }, 60_000);

  it('leaves nothing of either file readable in the profiles, the relay\'s data or the temp directory', () => {
    const markers = [Buffer.from(PDF_MARKER), Buffer.from(CAMERA_MARKER), jpegImageDataSample(photo)];
    const profiles = ['alice', 'bob'].map((name) => join(harnessDir, 'workstations', name));
    for (const profile of profiles) expect(readdirSync(profile).length).toBeGreaterThan(0);
    const scanned = [
      ...filesWrittenSince(harnessDir, 0, () => false),
      // Whatever anything wrote to the OS temp directory during this test (the built renderer holds no file content).
      ...filesWrittenSince(tmpdir(), started, (path) => path === harnessDir || path === rendererDir),
    ];
    const found: string[] = [];
    for (const path of scanned) {
      let bytes: Buffer;
      try {
        if (statSync(path).size > 512 * 1024 * 1024) continue;
        bytes = readFileSync(path);
      } catch {
        continue;
      }
      markers.forEach((marker, i) => {
        if (bytes.includes(marker)) found.push(`${['PDF text', 'camera data', 'photo pixels'][i]} in ${path}`);
      });
    }
    expect(scanned.length).toBeGreaterThan(5);
    expect(found).toEqual([]);
  });
});
