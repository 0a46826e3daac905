import { Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES, readBodyAtMost, readJsonAnswer } from './responseBody';

/*
 * A relay's answer read within its bound (issue 20): an announced Content-Length is only a claim, so a relay that
 * announces tens of MiB and sends a few bytes (many times over, or slowly) must not make the workstation hold them.
 */
describe('reading a relay answer', () => {
  const MiB = 1024 * 1024;

  /** An answer announcing `announced` bytes that sends `sent`; the memory held for buffers once it was sent. */
  function claimed(announced: number, sent: Uint8Array) {
    const held = { bytes: 0 };
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (step++ === 0) return controller.enqueue(sent);
        held.bytes = process.memoryUsage().arrayBuffers;
        controller.close();
      },
    });
    return { response: new Response(body, { headers: { 'content-length': String(announced) } }), held };
  }

  it('does not set aside the announced length before the bytes come', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const { response, held } = claimed(MAX_ANSWER_BYTES, new TextEncoder().encode('{"ok":true}'));
    // Measured at the stream's end: after the buffer was set aside, while it is held.
    expect(await readJsonAnswer(response, 'a relay announcing 32 MiB')).toEqual({ ok: true });
    expect(held.bytes - before).toBeLessThan(8 * MiB);
  });

  it('still reads a body of many chunks whole, byte for byte', async () => {
    const bytes = new Uint8Array(3 * MiB + 17).map((_, k) => k % 251);
    const chunks = Array.from({ length: Math.ceil(bytes.length / 65_000) }, (_, k) => bytes.subarray(k * 65_000, (k + 1) * 65_000));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const read = await readBodyAtMost(new Response(body, { headers: { 'content-length': String(bytes.length) } }), 4 * MiB, 'a range');
    expect(Buffer.from(read).equals(Buffer.from(bytes))).toBe(true);
  });
});
