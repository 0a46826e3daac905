import { describe, expect, it } from 'vitest';
import { UsernameSchema } from './username';

describe('sign-in names', () => {
  it('takes short names and e-mail-style UPNs, lower-cased and trimmed', () => {
    for (const name of ['asmith', 'a.smith-2', 'j.smith@hospital.example', "o'brien+oncall@ward-4.st-mary.nhs.example", 'x_y@a.b']) {
      expect(UsernameSchema.parse(name)).toBe(name);
    }
    expect(UsernameSchema.parse('  J.Smith@Hospital.EXAMPLE ')).toBe('j.smith@hospital.example');
    expect(UsernameSchema.parse('ASmith')).toBe('asmith');
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
