/**
 * How a text travels as SMS, as the server counts it (src/domain/sms.rs): GSM-7 when every character is in the GSM
 * alphabet (160 alone, 153 per part; the extension characters take two places), else UCS-2 (70 alone, 67 per
 * part); a character is never split across parts.
 */

const GSM_BASIC = new Set('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

/** `{encoding: 'GSM-7'|'UCS-2', parts, remaining}` of a text. */
export function smsSegments(text) {
  const chars = [...text];
  const gsm = chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENDED.has(c));
  const widths = gsm ? chars.map((c) => (GSM_EXTENDED.has(c) ? 2 : 1)) : chars.map((c) => c.length);
  const [single, perPart] = gsm ? [160, 153] : [70, 67];
  const encoding = gsm ? 'GSM-7' : 'UCS-2';
  const units = widths.reduce((sum, width) => sum + width, 0);
  if (units <= single) return { encoding, parts: units > 0 ? 1 : 0, remaining: single - units };
  let parts = 1;
  let used = 0;
  for (const width of widths) {
    if (used + width > perPart) {
      parts += 1;
      used = 0;
    }
    used += width;
  }
  return { encoding, parts, remaining: perPart - used };
}
