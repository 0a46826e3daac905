import type { MessageCoverage } from '../../../shared/wire/presence';

const AWAY: Readonly<Record<MessageCoverage['status'], string>> = { offShift: 'is off shift', doNotDisturb: 'is on Do not disturb' };

/**
 * The words for how forwarding touched a message: "Dr. Lee is off shift: also sent to Dr. Patel" (or "to Cardiology
 * on call (Dr. Patel)" for a role, with whoever held it then), and "Forwarded: Dr. Lee is off shift".
 */
export function coverageText(coverage: MessageCoverage, nameOf: (userId: string) => string): string {
  const away = `${nameOf(coverage.absent)} ${AWAY[coverage.status]}`;
  if (coverage.kind === 'forwarded') return `Forwarded: ${away}`;
  const people = coverage.to.map(nameOf).join(', ');
  return `${away}: also sent to ${coverage.role ? `${coverage.role.name} (${people})` : people}`;
}

/** The line above a message's text that says it was forwarded, or also sent to whoever covers (issue 19). */
export function CoverageLine({ coverage, nameOf }: { coverage: MessageCoverage | null | undefined; nameOf: (userId: string) => string }) {
  if (!coverage) return null;
  return <p className={`coverage coverage-${coverage.kind}`}><span aria-hidden="true">↪ </span>{coverageText(coverage, nameOf)}</p>;
}
