/**
 * The fixed parts of report.html: its style sheet (screen and print), the per-day chart, and the block
 * that says what was verified and how to check it. Static HTML and inline SVG: the page's CSP allows no
 * scripts and nothing from the network.
 */
import { LocalTimes } from './localTimes';
import { formatNumber } from './words';

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** Screen: a readable page up to 1200 px. Print: A4 or Letter, sections on new pages, rows never cut, headers repeated. */
export const STYLE = `
:root{--ink:#101828;--muted:#475467;--line:#d0d5dd;--soft:#f2f4f7;--accent:#0b5d57;--flag:#b42318;--flag-bg:#fef3f2}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff;max-width:1200px;margin:0 auto;padding:1.5rem 1.5rem 4rem}
header.doc{border-bottom:3px solid var(--accent);padding-bottom:1rem;margin-bottom:1.25rem}
header.doc .kicker{color:var(--accent);font-weight:600;text-transform:uppercase;letter-spacing:.06em;font-size:.8rem;margin:0}
h1{font-size:1.7rem;margin:.2rem 0 .4rem;line-height:1.25}
h2{font-size:1.3rem;margin:0 0 .75rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.25rem 0 .4rem}
section{margin-top:2.25rem}
p{margin:.4rem 0}
a{color:var(--accent)}
.muted{color:var(--muted)}
.identity{font-size:1.05rem;margin:.2rem 0}
.identity strong{font-weight:650}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;font-size:.85rem}
.hash{word-break:break-all;letter-spacing:.02em}
pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:.6rem .8rem;white-space:pre-wrap;word-break:break-all;margin:.4rem 0 .8rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.3rem 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:.4rem .55rem;text-align:left;vertical-align:top}
thead th{background:var(--soft);border-bottom:2px solid #98a2b3;font-size:.85rem;white-space:nowrap}
tbody th{font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.time{white-space:nowrap;font-variant-numeric:tabular-nums;font-size:.85rem}
.time .local{display:block;color:var(--muted)}
th.who{min-width:9.5rem}th.where{min-width:8.5rem}th.what{width:45%}
.seq{color:var(--muted);font-variant-numeric:tabular-nums;font-size:.85rem}
tr.flagged td:first-child{border-left:4px solid var(--flag)}
.badge{display:inline-block;border-radius:3px;padding:0 .35rem;font-size:.78rem;font-weight:600;white-space:nowrap;border:1px solid currentColor}
.o-success{color:#067647}.o-failure,.o-locked{color:var(--flag)}.o-refused{color:#93370d}.o-notice{color:var(--muted)}
.flag{color:var(--flag);font-weight:700}
.alarm{border:3px solid var(--flag);background:var(--flag-bg);color:#7a271a;padding:.75rem 1rem;font-weight:600}
.glance{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.6rem;margin:1rem 0;padding:0}
.glance div{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem;margin:0}
.glance dt{font-size:.8rem;color:var(--muted)}.glance dd{margin:0;font-size:1.35rem;font-weight:650;font-variant-numeric:tabular-nums}
.glance .warn dd{color:var(--flag)}
nav.toc ol{display:flex;flex-wrap:wrap;gap:.3rem 1.4rem;padding:0;margin:.4rem 0;list-style:none}
nav.toc{border:1px solid var(--line);border-radius:6px;padding:.5rem .9rem;background:var(--soft)}
dl.facts{display:grid;grid-template-columns:minmax(11rem,max-content) 1fr;gap:.35rem 1rem;margin:.4rem 0 1rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:flex-start;margin:.5rem 0}
.filters details{border:1px solid var(--line);border-radius:6px;padding:.35rem .7rem;max-width:100%}
.filters summary{cursor:pointer;font-weight:600}
.filters ul{columns:3 16rem;margin:.5rem 0;padding-left:1.1rem}
.filter-target{display:block;scroll-margin-top:1rem}
.filter-state .fs{display:none;background:#ecfdf3;border:1px solid #75e0a7;border-radius:6px;padding:.45rem .75rem}
.people{display:grid;align-items:start;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:0 1rem}
.person{border:1px solid var(--line);border-radius:6px;padding:.2rem 1rem .6rem;margin:.8rem 0;break-inside:avoid}
.person h3{margin-top:.6rem}
.person dl.facts{grid-template-columns:minmax(10rem,max-content) 1fr}
.chart svg{width:100%;height:auto;max-height:260px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.3rem}
@page{margin:14mm 12mm 16mm}
@media print{
  html{font-size:11.5px}
  body{font-size:1rem;max-width:none;padding:0;margin:0}
  thead th{white-space:normal}
  a{color:inherit;text-decoration:none}
  nav.toc,.filters,.filter-state,.skip,.screen-only{display:none!important}
  section{break-before:page;margin-top:0}
  .glance{grid-template-columns:repeat(6,1fr);margin:.6rem 0}.glance div{padding:.3rem .5rem}.glance dd{font-size:1.1rem}
  h1{font-size:1.45rem}header.doc{padding-bottom:.6rem;margin-bottom:.6rem}pre{padding:.4rem .6rem}
  p,dd{orphans:3;widows:3}
  th.who{min-width:6.5rem}th.where{min-width:6rem}th.what{width:42%}.time{font-size:.9rem}
  section.keep{break-before:auto;margin-top:1.5rem}
  h2,h3{break-after:avoid}
  thead{display:table-header-group}
  tr,.person,.glance div,pre,dl.facts{break-inside:avoid}
  thead th{background:#eaecf0!important;-webkit-print-color-adjust:exact;print-color-adjust:exact}
  tr.flagged td:first-child,.badge,.alarm{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .chart svg{max-height:none}
}
`;

const niceCeiling = (n: number) => {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, n)));
  return ([1, 2, 5, 10].find((m) => m * p >= n) ?? 10) * p;
};

/** Bars a chart has at most: a day each, a week each beyond 400 days, and as many days as it takes beyond 400 weeks. */
const MAX_BARS = 400;

/** Bars per local day (per week, or per run of days, over longer spans), gaps included, with the axis labelled; null with no events. */
export function dayChart(byDay: ReadonlyMap<number, number>, zone: string): string | null {
  if (byDay.size === 0) return null;
  let first = Infinity;
  let last = -Infinity;
  for (const d of byDay.keys()) {
    first = Math.min(first, d);
    last = Math.max(last, d);
  }
  const span = last - first + 1;
  const step = span <= MAX_BARS ? 1 : span <= MAX_BARS * 7 ? 7 : Math.ceil(span / MAX_BARS);
  const buckets = Math.floor((last - first) / step) + 1;
  const counts = new Array<number>(buckets).fill(0);
  for (const [d, n] of byDay) counts[Math.floor((d - first) / step)] = (counts[Math.floor((d - first) / step)] ?? 0) + n;
  let peak = 0;
  for (const n of counts) peak = Math.max(peak, n);
  const top = niceCeiling(peak);
  const [W, H, left, bottom, topPad] = [800, 230, 56, 36, 12];
  const plotW = W - left - 10;
  const plotH = H - bottom - topPad;
  const bw = plotW / buckets;
  const y = (n: number) => topPad + plotH - (n / top) * plotH;
  const label = (i: number) => LocalTimes.dayLabel(first + i * step);
  const bars = counts.map((n, i) => (n === 0 ? '' : `<rect x="${(left + i * bw + Math.min(1, bw * 0.1)).toFixed(1)}" y="${y(n).toFixed(1)}" width="${Math.max(0.8, bw - Math.min(2, bw * 0.2)).toFixed(1)}" height="${(topPad + plotH - y(n)).toFixed(1)}" fill="#0b5d57"><title>${step === 1 ? label(i) : step === 7 ? `week of ${label(i)}` : `${formatNumber(step)} days from ${label(i)}`}: ${formatNumber(n)} events</title></rect>`)).join('');
  const ticks = buckets <= 14 ? buckets : 7;
  const xLabels = Array.from({ length: ticks }, (_, k) => (ticks === 1 ? 0 : Math.round((k * (buckets - 1)) / (ticks - 1))))
    .map((i) => `<text x="${(left + (i + 0.5) * bw).toFixed(1)}" y="${H - 14}" text-anchor="middle" font-size="12" fill="#344054">${label(i)}</text>`).join('');
  const grid = [0, top / 2, top].map((v) => `<line x1="${left}" x2="${W - 10}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#475467' : '#d0d5dd'}"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#344054">${formatNumber(v)}</text>`).join('');
  const peakIndex = counts.indexOf(peak);
  const unit = step === 1 ? 'day' : step === 7 ? 'week' : `${formatNumber(step)} days`;
  const busiest = step <= 7 ? `the busiest ${unit} was ${label(peakIndex)}` : `the busiest ${unit} began ${label(peakIndex)}`;
  const summary = `Events per ${unit} (${zone}) from ${label(0)} to ${LocalTimes.dayLabel(last)}; ${busiest} with ${formatNumber(peak)} events.`;
  return `<figure class="chart"><svg role="img" aria-label="${escapeHtml(summary)}" viewBox="0 0 ${W} ${H}">${grid}${bars}${xLabels}</svg><figcaption class="muted">${escapeHtml(summary)}</figcaption></figure>`;
}

export interface VerificationFacts {
  readonly kind: 'relay' | 'workstation';
  readonly origin: string;
  readonly signerFingerprint: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly firstSeq: number;
  readonly range: string;
  readonly records: number;
  readonly seqSpan: string;
  readonly zone: string;
}

/** Hex in groups of four, so that two people can read it to each other. */
const grouped = (hex: string) => (hex === '' ? 'not recorded' : hex.toLowerCase().replace(/(.{4})(?!$)/g, '$1 '));

/** What the signatures cover, and the commands that check them (with and without rounds-audit). */
export function verificationBlock(v: VerificationFacts): string {
  const keyFile = v.kind === 'relay' ? 'org-audit.pub.pem' : 'signer.pub.pem';
  const tool = v.kind === 'relay'
    ? `rounds-audit verify BUNDLE --key org-audit.pub.pem
rounds-audit verify BUNDLE --key org-audit.pub.pem --previous EARLIER-BUNDLE`
    : `rounds-audit verify BUNDLE --relay-bundle RELAY-BUNDLE
rounds-audit verify BUNDLE --relay-bundle RELAY-BUNDLE --previous EARLIER-BUNDLE`;
  const restored = v.firstSeq > 1
    ? `This log begins at record ${formatNumber(v.firstSeq)}: it was started after a restore from a backup. Its first record names the backup and the last checkpoint of the log before it; check the two together with <code>--previous</code>.`
    : 'This log begins at record 1.';
  const keyCheck = v.kind === 'relay'
    ? `<code>org-audit.pub.pem</code> is the organisation's audit public key as kept on record (the relay prints it with <code>rounds-server audit key</code>). Without <code>--key</code>, the result holds only if the fingerprint above is the organisation's.`
    : `The workstation signs its own log with a key created at its enrollment; the relay wrote that key into its own signed log (the workstation's <code>device.enrolled</code> record). <code>--relay-bundle</code> checks this bundle's key against that record in a bundle exported from the relay.`;
  return `<dl class="facts">
<dt>Log</dt><dd><code>${escapeHtml(v.origin)}</code> (${v.kind === 'relay' ? "the relay's audit log" : "a workstation's own audit log"})</dd>
<dt>Signed by key</dt><dd><code class="hash">${escapeHtml(grouped(v.signerFingerprint))}</code><br><span class="muted">SHA-256 fingerprint of the Ed25519 public key in <code>signer.pub.pem</code></span></dd>
<dt>Log size when signed</dt><dd>${formatNumber(v.treeSize)} records</dd>
<dt>Root hash</dt><dd><code class="hash">${escapeHtml(grouped(v.rootHash))}</code><br><span class="muted">SHA-256 Merkle tree head over all ${formatNumber(v.treeSize)} records (RFC 9162), as signed in <code>checkpoint</code></span></dd>
<dt>Range exported</dt><dd>${escapeHtml(v.range)}</dd>
<dt>Records in this bundle</dt><dd>${formatNumber(v.records)}${v.seqSpan ? ` (${escapeHtml(v.seqSpan)})` : ''}</dd>
<dt>Start of the log</dt><dd>${restored}</dd>
<dt>Times</dt><dd>In UTC and in ${escapeHtml(v.zone)} (the ${v.kind === 'relay' ? "relay's" : "workstation's"} time zone)</dd>
</dl>
<p>The evidence is <code>events.jsonl</code>: each record's exact bytes are a leaf of the signed tree. This page and <code>events.csv</code> are readings of it made at export; names come from <code>people.json</code>, resolved at export. All are listed in <code>SHA256SUMS</code>, which the same key signs.</p>
<h3>How to check it</h3>
<p>With the Rounds verifier (<code>BUNDLE</code> is this bundle's folder or .zip file; <code>--previous</code> also proves that an earlier bundle's log was only extended, never rewritten):</p>
<pre>${tool}</pre>
<p>${keyCheck}</p>
<p>Without it, in the bundle's folder, with the standard <code>sha256sum</code> and OpenSSL 3:</p>
<pre>sha256sum -c SHA256SUMS
openssl pkeyutl -verify -pubin -inkey ${keyFile} -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum</pre>
<p class="muted">The first line checks every file against its digest; the second, that the digests are signed by the key; the third prints the key's fingerprint, which must be the one above. The Merkle proofs in <code>proof.json</code> (that these records are in the signed tree, and unchanged since earlier exports) need <code>rounds-audit</code> or another RFC 9162 verifier.</p>`;
}
