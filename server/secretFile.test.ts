import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../test/fixtures/tempDirs';
import { ConfigurationError } from './ConfigurationError';
import { readSecretLine } from './secretFile';

describe('secrets read from files', () => {
  const dir = useTempDirs();

  it('takes the first line as it is (spaces kept), without its line break, from LF or CRLF files', () => {
    const file = join(dir(), 'secret');
    writeFileSync(file, ' correct horse \r\nsecond line\n');
    expect(readSecretLine(file, 'database password')).toBe(' correct horse ');
  });

  it('names the file and the system error, and never the content', () => {
    const missing = join(dir(), 'absent');
    expect(() => readSecretLine(missing, 'database password')).toThrow(new ConfigurationError(`cannot read the database password file ${missing} (ENOENT)`));
    const empty = join(dir(), 'empty');
    writeFileSync(empty, '\nsecret-on-line-two\n');
    expect(() => readSecretLine(empty, 'LDAP bind password')).toThrow(/^the LDAP bind password file .*empty is empty \(its first line is the LDAP bind password\)$/);
    expect(() => readSecretLine(empty, 'LDAP bind password')).not.toThrow(/secret-on-line-two/);
  });
});
