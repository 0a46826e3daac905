/**
 * report.html of an audit bundle: a summary for people (range, counts by event type and by day with a
 * chart, failed sign-ins, lockouts, exports, flagged events). Static HTML with inline CSS and SVG: no
 * scripts, nothing from the network, so it opens offline in any browser.
 */
import type { ExportedRecord } from './bundle';

export interface ReportInput {
  readonly title: string;
  readonly origin: string;
  readonly range: { readonly from: number; readonly to: number; readonly user: string | null };
  readonly records: readonly ExportedRecord[];
  readonly treeSize: number;
  readonly generatedAt: number;
  /** Shown as a banner above everything (a bundle of a log whose hash chain is broken). */
  readonly warning?: string;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const valid = (at: number) => Number.isFinite(new Date(at).getTime());
const day = (at: number) => (valid(at) ? new Date(at).toISOString().slice(0, 10) : 'unknown');
const when = (at: number) => (valid(at) ? `${new Date(at).toISOString().replace('T', ' ').slice(0, 19)} UTC` : 'the end of the log');

/** Event types a compliance officer looks at first. */
const NOTABLE = /fail|account\.(?:un)?locked|lockout|throttl|reject|export|emergency|wipe|identity|revoked|deactivat/i;

export function renderReport(input: ReportInput): string {
  const byType = new Map<string, number>();
  const byDay = new Map<string, number>();
  const byDayNumber = new Map<number, number>();
  for (const r of input.records) {
    byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
    const d = Math.floor(r.at / 86_400_000);
    byDayNumber.set(d, (byDayNumber.get(d) ?? 0) + 1);
  }
  for (const [d, n] of byDayNumber) byDay.set(day(d * 86_400_000), n);
  const days = [...byDay.entries()].sort(([a], [b]) => a.localeCompare(b));
  const max = Math.max(1, ...days.map(([, n]) => n));
  const barWidth = Math.max(4, Math.min(40, Math.floor(720 / Math.max(1, days.length))));
  const chart = `<svg role="img" aria-label="Events per day" width="${Math.max(200, days.length * barWidth + 40)}" height="180" viewBox="0 0 ${Math.max(200, days.length * barWidth + 40)} 180">
${days.map(([d, n], i) => {
    const h = Math.round((n / max) * 140);
    return `<rect x="${30 + i * barWidth}" y="${150 - h}" width="${barWidth - 2}" height="${h}" fill="#0b6b63"><title>${d}: ${n}</title></rect>`;
  }).join('\n')}
<line x1="28" y1="150" x2="${30 + days.length * barWidth}" y2="150" stroke="#475467"/>
<text x="0" y="14" font-size="11" fill="#475467">${max}</text><text x="0" y="150" font-size="11" fill="#475467">0</text>
</svg>`;
  const notable = input.records.filter((r) => NOTABLE.test(r.type) || r.flagged === true);
  const rows = (entries: [string, number][]) => entries.map(([k, n]) => `<tr><td>${escape(k)}</td><td class="n">${n}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(input.title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body{font:15px/1.45 system-ui,sans-serif;color:#0f172a;max-width:960px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d5dbe3;padding:.3rem .5rem;text-align:left;vertical-align:top}.n{text-align:right}
.muted{color:#475467}code{font-size:.85rem;word-break:break-all}.flag{color:#b42318;font-weight:600}
.alarm{border:3px solid #b42318;background:#fef3f2;color:#7a271a;padding:.75rem 1rem;font-weight:600}
</style></head><body>
${input.warning ? `<p class="alarm" role="alert">${escape(input.warning)}</p>\n` : ''}<h1>${escape(input.title)}</h1>
<p class="muted">Log <code>${escape(input.origin)}</code>; ${input.treeSize} records in the log at export time.<br>
Range: ${when(input.range.from)} to ${when(input.range.to)}${input.range.user ? `, user ${escape(input.range.user)}` : ''}. Generated ${when(input.generatedAt)}.</p>
<p><strong>${input.records.length}</strong> records in this export. Check it with <code>rounds-audit verify</code>, or with
<code>sha256sum -c SHA256SUMS</code> and <code>openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig</code>.</p>
<h2>Events per day</h2>${days.length > 0 ? chart : '<p class="muted">No events in this range.</p>'}
<h2>Events by type</h2><table><thead><tr><th>Type</th><th class="n">Count</th></tr></thead><tbody>${rows([...byType.entries()].sort(([a], [b]) => a.localeCompare(b)))}</tbody></table>
<h2>Failed sign-ins and unlocks, lockouts, exports and flagged events (${notable.length})</h2>
${notable.length === 0 ? '<p class="muted">None.</p>' : `<table><thead><tr><th>#</th><th>Time</th><th>Type</th><th>Details</th></tr></thead><tbody>${notable.slice(0, 2000).map((r) => {
    const { seq, at, type, ...rest } = r;
    return `<tr><td>${seq}</td><td>${when(at)}</td><td${r.flagged === true ? ' class="flag"' : ''}>${escape(type)}</td><td><code>${escape(JSON.stringify(rest))}</code></td></tr>`;
  }).join('')}</tbody></table>${notable.length > 2000 ? `<p class="muted">First 2000 of ${notable.length} shown; all are in events.csv.</p>` : ''}`}
</body></html>
`;
}
