/*
 * A person as the hospital's directory describes them, whichever source provisions them (an admin command,
 * SCIM from Entra ID or Okta, an LDAP/Active Directory sync, an OpenID Connect sign-in). Each source turns
 * its own shape into this one; the relay's store turns it into an account. Organisational data only
 * (names, departments, titles, pager numbers): never anything about patients.
 */

/** Where an account's directory data came from; every provisioning change is audited with it. */
export type ProvisioningSource =
  | { readonly kind: 'admin'; readonly actor: string }
  /** `owner`: the token's source (ScimTokenRecord.source; its name when absent): a leaver only it reactivates. */
  | { readonly kind: 'scim'; readonly tokenName: string; readonly owner?: string }
  | { readonly kind: 'ldap'; readonly runId: string }
  | { readonly kind: 'oidc'; readonly issuer: string };

export interface DirectoryPerson {
  /** The source's stable id for the person (SCIM externalId, LDAP entryUUID/objectGUID, OIDC `sub`). */
  readonly externalId: string;
  /** Lower-cased sign-in name: a short name (`asmith`) or an e-mail-style UPN (`j.smith@hospital.example`). */
  readonly username: string;
  readonly displayName: string;
  readonly department: string | null;
  /** Job title as the directory has it ("Charge nurse", "Cardiology registrar"); not the relay permission role. */
  readonly jobTitle: string | null;
  /** How to reach them outside Rounds: pager or extension, as the directory has it. */
  readonly contact: string | null;
  /** false: the source says this person has left or is disabled; every workstation of theirs is cut off. */
  readonly active: boolean;
}
