/**
 * One key for the forms a phone number takes between us, Evolution and WhatsApp. Evolution addresses a
 * 13-digit Mexican (52 1 ...) or Argentine (54 9 ...) number without its third digit, and a Brazilian
 * mobile with or without the ninth digit (its own rule, or whichever form WhatsApp knows the number
 * by), so a message we sent to `5215512345678` comes back in webhooks as `525512345678@s.whatsapp.net`.
 * The key drops those digits from both, so the two compare equal.
 */
export function whatsappNumberKey(numberOrJid: string): string {
  const [user, domain] = numberOrJid.trim().toLowerCase().split('@');
  // Groups and LIDs are not phone numbers: their JID is their key.
  if (domain !== undefined && domain !== 's.whatsapp.net') return numberOrJid.trim().toLowerCase();
  const d = user!.replace(/\D/g, '');
  if (d.length === 13 && (d.startsWith('52') || d.startsWith('54'))) return d.slice(0, 2) + d.slice(3);
  if (d.length === 13 && d.startsWith('55') && d[4] === '9') return d.slice(0, 4) + d.slice(5);
  return d;
}
