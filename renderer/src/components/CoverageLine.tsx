import type { MessageCoverage } from '../../../shared/wire/presence';

const AWAY: Readonly<Record<MessageCoverage['status'], string>> = { offShift: 'is off shift', doNotDisturb: 'is on Do not disturb' };

/** Who wrote the message: a received one's forwarding is its sender's statement, and is shown as theirs. */
export interface CoverageSource {
  readonly senderName: string;
  readonly outgoing: boolean;
}

/**
 * The words for how forwarding touched a message: "Dr. Lee is off shift: also sent to Dr. Patel" (or "to Cardiology
 * on call (Dr. Patel)" for a role, with whoever held it then) on the sender's message; on the copy the colleague
 * covering got, "Dr. Moreau says this was forwarded from Dr. Lee, who is off shift": the sending workstation says
 * so, and this one cannot check it (the status was the absent one's when the message went).
 */
export function coverageText(coverage: MessageCoverage, nameOf: (userId: string) => string, source: CoverageSource): string {
  const away = `${nameOf(coverage.absent)} ${AWAY[coverage.status]}`;
  if (coverage.kind === 'forwarded') {
    return source.outgoing ? `Forwarded because ${away}` : `${source.senderName} says this was forwarded from ${nameOf(coverage.absent)}, who ${AWAY[coverage.status]}`;
  }
  const people = coverage.to.map(nameOf).join(', ');
  return `${away}: also sent to ${coverage.role ? `${coverage.role.name} (${people})` : people}`;
}

/** The line above a message's text that says it was forwarded, or also sent to whoever covers (issue 19). */
export function CoverageLine({ coverage, nameOf, source }: { coverage: MessageCoverage | null | undefined; nameOf: (userId: string) => string; source: CoverageSource }) {
  if (!coverage) return null;
  return <p className={`coverage coverage-${coverage.kind}`} role="note"><span aria-hidden="true">↪ </span>{coverageText(coverage, nameOf, source)}</p>;
}
