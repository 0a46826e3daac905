import { describe, expect, it } from 'vitest';
import { addressKey, DeviceAddressSchema, parseAddressKey } from './ids';

const address = DeviceAddressSchema.parse({ userId: '0b6b7b0e-2a59-4c1e-9d43-0f6f3a1c2b7d', deviceId: 12 });

describe('address keys', () => {
  it('parses back what addressKey wrote', () => {
    expect(parseAddressKey(addressKey(address))).toEqual(address);
  });

  it('refuses keys addressKey could not have written', () => {
    for (const key of ['', '12', `${address.userId}`, `${address.userId}.`, `${address.userId}.0`, `${address.userId}.128`, `${address.userId}.1.5`, `${address.userId}.012`, `${address.userId}.1e1`, `${address.userId.toUpperCase()}.1`]) {
      expect(() => parseAddressKey(key), key).toThrow();
    }
  });
});
