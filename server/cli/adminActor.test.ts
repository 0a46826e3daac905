import { describe, expect, it } from 'vitest';
import { adminActor } from './adminActor';

describe('who ran an admin command', () => {
  it('is the account sudo was run from, else the login name', () => {
    expect(adminActor({ SUDO_USER: 'jdoe', USER: 'root' }, () => 'root')).toBe('admin:jdoe');
    expect(adminActor({ USER: 'it-ops' }, () => 'it-ops')).toBe('admin:it-ops');
  });

  it('falls back to LOGNAME, then USER, when the uid has no password-file entry', () => {
    const noEntry = () => {
      throw new Error('ENOENT');
    };
    expect(adminActor({ LOGNAME: 'ops', USER: 'other' }, noEntry)).toBe('admin:ops');
    expect(adminActor({ USER: 'other' }, noEntry)).toBe('admin:other');
    expect(adminActor({}, noEntry)).toBe('admin:unknown');
  });

  it('never writes a name with spaces or control characters into the log', () => {
    expect(adminActor({ SUDO_USER: 'evil\nadmin:root' }, () => 'ops')).toBe('admin:ops');
    expect(adminActor({ SUDO_USER: '   ' }, () => 'ops')).toBe('admin:ops');
  });
});
