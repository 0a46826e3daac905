import * as m0001 from './0001-profile';
import * as m0002 from './0002-outbox';
import * as m0003 from './0003-read-state';
import * as m0004 from './0004-receipts';
import * as m0005 from './0005-conversations';
import * as m0006 from './0006-team-versions';
import * as m0007 from './0007-coverage';
import * as m0008 from './0008-role-conversations';
import * as m0009 from './0009-acknowledgements';
import * as m0010 from './0010-attachments';
import * as m0011 from './0011-covering-acknowledgements';
import * as m0012 from './0012-held-sends';
import * as m0013 from './0013-messages-by-sender';
import * as m0014 from './0014-pending-saves';
import * as m0015 from './0015-acknowledgements-set-aside';

export interface ProfileMigration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

/** Every migration of the profile database, in order; applied ones never change. */
export const PROFILE_MIGRATIONS: readonly ProfileMigration[] = [{ version: 1, ...m0001 }, { version: 2, ...m0002 }, { version: 3, ...m0003 }, { version: 4, ...m0004 }, { version: 5, ...m0005 }, { version: 6, ...m0006 }, { version: 7, ...m0007 }, { version: 8, ...m0008 }, { version: 9, ...m0009 }, { version: 10, ...m0010 }, { version: 11, ...m0011 }, { version: 12, ...m0012 }, { version: 13, ...m0013 }, { version: 14, ...m0014 }, { version: 15, ...m0015 }];
