import { describe, expect, it } from 'vitest';
import { jidOf } from '../../../test/sim/evolution/answers.ts';
import { whatsappNumberKey } from './jid.ts';

describe('whatsappNumberKey', () => {
  it('gives a number and the JID Evolution writes for it the same key', () => {
    for (const number of [
      '5215512345678', // Mexico, mobile 1: the JID drops it
      '5491123456789', // Argentina, mobile 9: likewise
      '5531992903943', // Brazil, area code 31+, 9 then 9: the JID drops the ninth digit
      '5511987654321', // Brazil, area code under 31: the JID keeps it
      '5521912345678',
      '14155550123', // elsewhere: unchanged
      '34612345678',
    ]) {
      expect(whatsappNumberKey(jidOf(number)), number).toBe(whatsappNumberKey(number));
    }
    expect(whatsappNumberKey('525512345678@s.whatsapp.net')).toBe('525512345678');
    // Brazil: whichever form WhatsApp knows the number by.
    expect(whatsappNumberKey('551187654321')).toBe(whatsappNumberKey('5511987654321'));
  });

  it('tells different numbers apart, and never takes a group or LID JID for a number', () => {
    expect(whatsappNumberKey('5215512345678')).not.toBe(whatsappNumberKey('5215512345679'));
    expect(whatsappNumberKey('5511887654321')).not.toBe(whatsappNumberKey('551187654321'));
    expect(whatsappNumberKey('120363025246125486@g.us')).toBe('120363025246125486@g.us');
    expect(whatsappNumberKey('5215512345678@lid')).not.toBe(whatsappNumberKey('5215512345678'));
  });
});
