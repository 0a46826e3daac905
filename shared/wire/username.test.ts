import { describe, expect, it } from 'vitest';
import { UsernameSchema, foldUsername } from './username';

describe('sign-in names', () => {
  it('takes short names and e-mail-style UPNs, lower-cased and trimmed', () => {
    for (const name of ['asmith', 'a.smith-2', 'j.smith@hospital.example', "o'brien+oncall@ward-4.st-mary.nhs.example", 'x_y@a.b']) {
      expect(UsernameSchema.parse(name)).toBe(name);
    }
    expect(UsernameSchema.parse('  J.Smith@Hospital.EXAMPLE ')).toBe('j.smith@hospital.example');
    expect(UsernameSchema.parse('ASmith')).toBe('asmith');
  });

  it('folds only plain ASCII: a letter JavaScript would fold onto an ASCII one (U+212A KELVIN SIGN) is refused, not made "k"', () => {
    expect(foldUsername(' Kate@Hospital.example ')).toBe('kate@hospital.example');
    expect(foldUsername('\u212Aate@hospital.example')).toBeNull();
    expect(foldUsername('jos\u00e9@hospital.example')).toBeNull();
    expect(UsernameSchema.safeParse('\u212Aate@hospital.example').success).toBe(false);
  });

  it('refuses what is neither, with a message that says what is wanted', () => {
    const refused = [
      'a', '-asmith', 'a smith', 'asmith!', 'x'.repeat(65), '@hospital.example', 'j.smith@', 'j.smith@hospital', 'j..smith@hospital.example',
      '.j@hospital.example', 'j.@hospital.example', 'j@-hospital.example', 'j@hospital-.example', 'j@hospital..example', 'j@a@hospital.example',
      'j"s@hospital.example', 'j smith@hospital.example', `${'a'.repeat(65)}@hospital.example`, `j@${'a.'.repeat(130)}example`, 'j@hos\npital.example',
      'ĵ@hospital.example', '',
    ];
    for (const name of refused) {
      const result = UsernameSchema.safeParse(name);
      expect(result.success, name).toBe(false);
    }
    expect(UsernameSchema.safeParse('a smith').error?.issues[0]?.message).toMatch(/j\.smith@hospital\.example/);
  });
});
