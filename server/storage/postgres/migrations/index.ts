import * as m0001 from './0001-initial';
import * as m0002 from './0002-rate-buckets';
import * as m0003 from './0003-audit-checkpoints';
import * as m0004 from './0004-queue-delete-statement';
import * as m0005 from './0005-audit-head';
import * as m0006 from './0006-rate-bucket-batches';
import * as m0007 from './0007-directory-attributes';
import * as m0008 from './0008-scim';
import * as m0009 from './0009-sso-sign-ins';
import * as m0010 from './0010-presence';
import * as m0011 from './0011-on-call-roles';
import * as m0012 from './0012-escalations';
import * as m0013 from './0013-attachment-blobs';
import * as m0014 from './0014-signed-forwarding';
import * as m0015 from './0015-directory-roles';
import * as m0016 from './0016-siem-cursor';
import * as m0017 from './0017-ladder-blob-readers';
import * as m0018 from './0018-scim-group-owners';
import * as m0019 from './0019-scim-role-keys';
import * as m0020 from './0020-queue-insert-statement';
import * as m0021 from './0021-queue-bytes-octets';

export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

/** Every migration of the PostgreSQL store, in order. A new schema version is a new file here; applied ones never change. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [{ version: 1, ...m0001 }, { version: 2, ...m0002 }, { version: 3, ...m0003 }, { version: 4, ...m0004 }, { version: 5, ...m0005 }, { version: 6, ...m0006 }, { version: 7, ...m0007 }, { version: 8, ...m0008 }, { version: 9, ...m0009 }, { version: 10, ...m0010 }, { version: 11, ...m0011 }, { version: 12, ...m0012 }, { version: 13, ...m0013 }, { version: 14, ...m0014 }, { version: 15, ...m0015 }, { version: 16, ...m0016 }, { version: 17, ...m0017 }, { version: 18, ...m0018 }, { version: 19, ...m0019 }, { version: 20, ...m0020 }, { version: 21, ...m0021 }];
