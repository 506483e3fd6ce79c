/**
 * Push ids made in the browser, as Firebase's SDKs make them: 20 characters that sort in creation order.
 *
 * 8 characters of the millisecond timestamp in base 64 (most significant first), then 12 random
 * characters; two ids in the same millisecond increment the random part, so they stay ordered. The same
 * algorithm as the emulator's (emulator/pushid.py). Made here rather than by a POST, the key of a new ticket
 * is known before it is sent, so a retry after a lost answer writes (or finds) the same ticket.
 * Imports nothing.
 */

export const PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const TIME_CHARS = 8;
const RANDOM_CHARS = 12;
const LAST_DIGIT = PUSH_CHARS.length - 1;

/**
 * A generator of strictly increasing push ids.
 *
 * @param {object} [options]
 * @param {() => number} [options.now]  milliseconds since the epoch (Date.now).
 * @param {(n: number) => number[]} [options.random]  n random integers in [0, 64) (crypto.getRandomValues).
 * @returns {() => string}  each call returns an id greater than every id it returned before, even if the
 *   clock steps back (the id then keeps the last time it used).
 */
export function pushIdGenerator({ now = Date.now, random = randomDigits } = {}) {
  let lastMs = -1;
  let digits = [];
  return function nextPushId() {
    let ms = Math.max(Math.floor(now()), lastMs);
    if (ms === lastMs) {
      if (!increment(digits)) ms += 1; // 64^12 ids in one millisecond: borrow the next one
    } else {
      digits = random(RANDOM_CHARS);
    }
    lastMs = ms;
    let stamp = "";
    for (let i = 0; i < TIME_CHARS; i += 1) {
      stamp = PUSH_CHARS.charAt(ms % 64) + stamp;
      ms = Math.floor(ms / 64);
    }
    return stamp + digits.map((d) => PUSH_CHARS.charAt(d)).join("");
  };
}

/** The page's own generator: one sequence per page, so its ids are ordered among themselves. */
export const nextPushId = pushIdGenerator();

/** The time (ms since the epoch) a push id was made at, or NaN if `id` is not one. */
export function pushIdTime(id) {
  if (typeof id !== "string" || id.length !== TIME_CHARS + RANDOM_CHARS) return NaN;
  let ms = 0;
  for (const char of id.slice(0, TIME_CHARS)) {
    const digit = PUSH_CHARS.indexOf(char);
    if (digit < 0) return NaN;
    ms = ms * 64 + digit;
  }
  return ms;
}

// Add one to the random part, last digit first; false when every digit was the last one (all wrap to 0).
function increment(digits) {
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    if (digits[i] !== LAST_DIGIT) {
      digits[i] += 1;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}

function randomDigits(n) {
  // 64 divides 256: the low six bits of a random byte are uniform.
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (byte) => byte & LAST_DIGIT);
}
