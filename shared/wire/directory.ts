import { z } from 'zod';

/*
 * What the directory says of a colleague besides their name: department, job title and a contact line (pager
 * or extension), from whichever source provisions them (SCIM, LDAP, the admin's command line). Organisational
 * data, never anything about patients. Short, one line each, and free of control and bidirectional-override
 * characters (a name that reorders itself on screen could pass for someone else's).
 */

/** A person's name as the directory shows it. */
export const DisplayNameSchema = z.string().trim().min(1).max(128);

/** C0/C1 controls, line and paragraph separators, and the bidirectional embedding, override and isolate marks. */
const CONTROLS = /[\p{Cc}\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/u;

export const hasControlCharacters = (text: string): boolean => CONTROLS.test(text);

const directoryText = (max: number) => z.string().trim().min(1).max(max).refine((s) => !hasControlCharacters(s), 'no control characters');

export const MAX_DEPARTMENT_LENGTH = 128;
export const MAX_JOB_TITLE_LENGTH = 128;
export const MAX_CONTACT_LENGTH = 64;

export const DepartmentSchema = directoryText(MAX_DEPARTMENT_LENGTH);
/** The job title as the directory has it ("Charge nurse"): not the relay's permission role. */
export const JobTitleSchema = directoryText(MAX_JOB_TITLE_LENGTH);
/** How to reach the person outside Rounds: pager or extension. */
export const ContactSchema = directoryText(MAX_CONTACT_LENGTH);

/** Case and accents folded away, as the directory search compares: "Müller" is found by "muller", "ÉMILE" by "emile". */
export const foldForSearch = (text: string): string => text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();

/** Whether an account can be messaged: 'pending' colleagues are listed before they enroll, as not yet reachable. */
export const DirectoryStatusSchema = z.enum(['active', 'pending']);

/** The most entries one directory search returns. */
export const MAX_DIRECTORY_SEARCH_LIMIT = 50;

/** GET /v1/directory?q=…&limit=…: a search (name, username, department, job title); without `q`, the whole directory. */
export const DirectorySearchQuerySchema = z.strictObject({
  q: z.string().max(128).refine((s) => !hasControlCharacters(s), 'no control characters').optional(),
  limit: z.coerce.number().int().min(1).max(MAX_DIRECTORY_SEARCH_LIMIT).optional(),
});
