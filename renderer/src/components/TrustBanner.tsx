/**
 * What a trust banner says, as headline and detail: her own account's new workstation (`own`), or a colleague's new
 * safety number (`name`: as the app shows them; null for one it has no name for, neither in the directory nor a
 * conversation's title).
 */
export function trustWords(own: boolean, name: string | null): readonly [string, string] {
  return own
    ? ['A new workstation was signed in to your account.', 'Your messages are copied to all your workstations. If you signed in there, review and accept it; if you did not, do not accept it and tell IT now. Sending is paused until then.']
    : [`${name === null ? 'A colleague' : name}’s safety number has changed.`, 'This happens when they reinstall Rounds or add a workstation, but could also mean someone is intercepting messages. Sending is paused until you review it.'];
}

/**
 * Sending is paused in a conversation until its user reviews a changed identity: her own account's new workstation
 * (`own`), or a colleague's new safety number. Only shown: the conversation is drawn anew on every switch, so the
 * main screen, which stays, says each change once (useTrustAnnouncements), also while a dialog makes the page inert.
 */
export function TrustBanner({ own, name, onReview }: { own: boolean; name: string | null; onReview: () => void }) {
  const [headline, detail] = trustWords(own, name);
  return (
    <div className="banner warning">
      <div><strong>{headline}</strong> {detail}</div>
      <button type="button" className="secondary" onClick={onReview}>{own ? 'Review your workstations' : 'Review safety number'}</button>
    </div>
  );
}
