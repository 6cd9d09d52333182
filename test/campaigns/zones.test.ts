import { effectiveQuietHours } from '../../src/campaigns/rules';
import { wallToInstant } from '../../src/campaigns/schedule';
import { inQuietHours, planSends, quietHoursEnd } from '../../src/campaigns/zones';

const at = (iso: string) => Date.parse(iso);
const NIGHT = { from: 21 * 60, to: 9 * 60, policy: 'delay' as const };

describe('quiet hours', () => {
  test.each([
    ['20:59', false],
    ['21:00', true],
    ['23:30', true],
    ['00:00', true],
    ['08:59', true],
    ['09:00', false],
    ['12:00', false],
  ])('when the clock in Berlin reads %s, then a 21:00-09:00 window holds: %s', (clock, inside) => {
    expect(inQuietHours(wallToInstant(`2026-12-07T${clock}`, 'Europe/Berlin'), 'Europe/Berlin', NIGHT)).toBe(inside);
  });

  test('when a window does not cross midnight, then only its hours are quiet', () => {
    const lunch = { from: 12 * 60, to: 14 * 60, policy: 'delay' as const };
    expect(inQuietHours(at('2026-12-07T12:30:00Z'), 'UTC', lunch)).toBe(true);
    expect(inQuietHours(at('2026-12-07T14:00:00Z'), 'UTC', lunch)).toBe(false);
    expect(inQuietHours(at('2026-12-07T23:00:00Z'), 'UTC', lunch)).toBe(false);
    expect(quietHoursEnd(at('2026-12-07T12:30:00Z'), 'UTC', lunch)).toBe(at('2026-12-07T14:00:00Z'));
  });

  test('when it is late evening, then the window ends the next morning; after midnight, the same morning', () => {
    expect(quietHoursEnd(wallToInstant('2026-12-07T22:00', 'Europe/Berlin'), 'Europe/Berlin', NIGHT)).toBe(at('2026-12-08T08:00:00Z'));
    expect(quietHoursEnd(wallToInstant('2026-12-08T03:00', 'Europe/Berlin'), 'Europe/Berlin', NIGHT)).toBe(at('2026-12-08T08:00:00Z'));
  });

  test('when the night is the one clocks go forward, then the window still ends at 09:00 local (07:00 UTC in summer time)', () => {
    // Berlin, 29 March 2026: 02:00 becomes 03:00.
    expect(quietHoursEnd(wallToInstant('2026-03-28T23:00', 'Europe/Berlin'), 'Europe/Berlin', NIGHT)).toBe(at('2026-03-29T07:00:00Z'));
    // New York, 1 November 2026: 02:00 becomes 01:00 again.
    expect(quietHoursEnd(wallToInstant('2026-10-31T23:00', 'America/New_York'), 'America/New_York', NIGHT)).toBe(at('2026-11-01T14:00:00Z'));
  });

  test('when a campaign says "off" or has its own window, then that holds over the service\'s', () => {
    expect(effectiveQuietHours({ quietHours: 'off' }, NIGHT)).toBeUndefined();
    expect(effectiveQuietHours({}, NIGHT)).toBe(NIGHT);
    expect(effectiveQuietHours({ quietHours: { from: '22:30', to: '07:15', policy: 'discard' } }, NIGHT)).toEqual({ from: 22 * 60 + 30, to: 7 * 60 + 15, policy: 'discard' });
    expect(effectiveQuietHours({}, undefined)).toBeUndefined();
  });
});

describe('the sends of an occurrence', () => {
  const dueAt = wallToInstant('2026-12-10T09:00', 'Europe/Berlin');

  test('when there is neither local time nor quiet hours, then it is one send to every device', () => {
    expect(planSends({ dueAt, scheduleZone: 'Europe/Berlin', localTime: false, zones: ['Asia/Tokyo'], fallback: 'Europe/Berlin' })).toEqual([{ dueAt, kind: 'send', zones: null }]);
  });

  test('when it is in local time, then each zone gets 09:00 on its own clock, zones with the same offset share a send, and the fallback zone also takes unknown zones', () => {
    const sends = planSends({ dueAt, scheduleZone: 'Europe/Berlin', localTime: true, zones: ['Asia/Tokyo', 'America/New_York', 'Europe/Paris', 'Asia/Seoul'], fallback: 'Europe/Berlin' });
    expect(sends.map((s) => [new Date(s.dueAt).toISOString(), s.zones, s.othersThan !== undefined])).toEqual([
      ['2026-12-10T00:00:00.000Z', ['Asia/Seoul', 'Asia/Tokyo'], false],
      ['2026-12-10T08:00:00.000Z', ['Europe/Berlin', 'Europe/Paris'], true],
      ['2026-12-10T14:00:00.000Z', ['America/New_York'], false],
    ]);
    expect(sends[1].othersThan).toEqual(['America/New_York', 'Asia/Seoul', 'Asia/Tokyo', 'Europe/Berlin', 'Europe/Paris']);
  });

  test('when a local-time 02:30 does not exist in one zone that night, then that zone gets it at 03:30 and the others at 02:30', () => {
    const due = wallToInstant('2026-03-29T02:30', 'Asia/Tokyo');
    const sends = planSends({ dueAt: due, scheduleZone: 'Asia/Tokyo', localTime: true, zones: ['Europe/Berlin'], fallback: 'UTC' });
    const berlin = sends.find((s) => s.zones?.includes('Europe/Berlin'));
    expect(new Date(berlin!.dueAt).toISOString()).toBe('2026-03-29T01:30:00.000Z'); // 03:30 CEST
    const utc = sends.find((s) => s.zones?.includes('UTC'));
    expect(new Date(utc!.dueAt).toISOString()).toBe('2026-03-29T02:30:00.000Z');
  });

  test('when the time falls in quiet hours in some zones, then those are delayed to the window\'s end there, or skipped with discard', () => {
    const evening = wallToInstant('2026-12-07T22:00', 'Europe/Berlin'); // 06:00 in Tokyo, 16:00 in New York
    const zones = ['Asia/Tokyo', 'America/New_York'];
    const delayed = planSends({ dueAt: evening, scheduleZone: 'Europe/Berlin', localTime: false, zones, fallback: 'Europe/Berlin', quiet: NIGHT });
    expect(delayed.map((s) => [new Date(s.dueAt).toISOString(), s.kind, s.zones])).toEqual([
      ['2026-12-07T21:00:00.000Z', 'send', ['America/New_York']],
      ['2026-12-08T00:00:00.000Z', 'send', ['Asia/Tokyo']],
      ['2026-12-08T08:00:00.000Z', 'send', ['Europe/Berlin']],
    ]);
    const discarded = planSends({ dueAt: evening, scheduleZone: 'Europe/Berlin', localTime: false, zones, fallback: 'Europe/Berlin', quiet: { ...NIGHT, policy: 'discard' } });
    expect(discarded.map((s) => [new Date(s.dueAt).toISOString(), s.kind, s.skipReason, s.zones])).toEqual([
      ['2026-12-07T21:00:00.000Z', 'send', undefined, ['America/New_York']],
      ['2026-12-07T21:00:00.000Z', 'skip', 'quiet_hours', ['Asia/Tokyo', 'Europe/Berlin']],
    ]);
  });
});
