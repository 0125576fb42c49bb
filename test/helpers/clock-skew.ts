/**
 * Preloaded into a child process (`--import tsx --import ./test/helpers/clock-skew.ts`) to
 * model a machine whose clock is off: `Date.now()` is shifted by PALLET_TEST_CLOCK_SKEW_MS
 * (negative: behind). Tests use it to show that no decision compares two machines' clocks.
 */
const skew = Number(process.env.PALLET_TEST_CLOCK_SKEW_MS ?? '0');
const realNow = Date.now.bind(Date);
Date.now = (): number => realNow() + skew;
