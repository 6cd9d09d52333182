import { floatingAt, placeInZone } from './schedule';
import type { QuietHours } from './rules';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** One send of an occurrence: a moment, and the zones whose devices it takes. */
export interface PlannedSend {
  dueAt: number;
  /** send: the message; skip: no message, every device `skipped` with `skipReason`. */
  kind: 'send' | 'skip';
  skipReason?: 'quiet_hours';
  /** The zones it takes; null: every device (no local time, no quiet hours). */
  zones: string[] | null;
  /** Set on the send of the fallback zone: it also takes devices of zones not in this list. */
  othersThan?: string[];
  /** A throttled send's slice (one of `count`, a minute apart). */
  slice?: { count: number; index: number };
}

/** The most slices a throttled send is split into: a day of minutes (a larger audience goes faster). */
export const MAX_SLICES = 1440;

/**
 * A send of `devices` devices throttled to `perMinute`: slices a minute apart, each taking the
 * devices of one residue class of their ids, so about `perMinute` each.
 */
export function throttled(send: PlannedSend, devices: number, perMinute: number): PlannedSend[] {
  const count = Math.min(MAX_SLICES, Math.ceil(devices / perMinute));
  if (send.kind !== 'send' || count <= 1) return [send];
  return Array.from({ length: count }, (_, index) => ({ ...send, dueAt: send.dueAt + index * MINUTE_MS, slice: { count, index } }));
}

/** Minutes after local midnight at `instant` in `zone`. */
function localMinutes(instant: number, zone: string): number {
  const floating = floatingAt(instant, zone);
  return Math.floor((((floating % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
}

/** True when the zone's clock at `instant` is inside the window [from, to). */
export function inQuietHours(instant: number, zone: string, quiet: QuietHours): boolean {
  const minutes = localMinutes(instant, zone);
  return quiet.from < quiet.to ? minutes >= quiet.from && minutes < quiet.to : minutes >= quiet.from || minutes < quiet.to;
}

/** When the quiet window that holds at `instant` in `zone` ends (its `to`, that day or the next). */
export function quietHoursEnd(instant: number, zone: string, quiet: QuietHours): number {
  const floating = floatingAt(instant, zone);
  const midnight = floating - (((floating % DAY_MS) + DAY_MS) % DAY_MS);
  const minutes = localMinutes(instant, zone);
  // Past `from` in a window that crosses midnight: it ends tomorrow.
  const nextDay = quiet.from > quiet.to && minutes >= quiet.from;
  return placeInZone(midnight + (nextDay ? DAY_MS : 0) + quiet.to * MINUTE_MS, zone);
}

/**
 * The sends of one occurrence due at `dueAt` (an instant, in the schedule's zone). Without local
 * time and quiet hours it is one send to everyone. Otherwise each zone gets its own moment (its
 * wall-clock time, for local time; moved to the end of the quiet window, or skipped, when it falls
 * inside one), and zones with the same moment and kind share one send. The fallback zone's send
 * also takes devices of every zone not known now. Work grows with zones, never with devices.
 */
export function planSends(options: { dueAt: number; scheduleZone: string; localTime: boolean; zones: string[]; fallback: string; quiet?: QuietHours }): PlannedSend[] {
  const { dueAt, scheduleZone, localTime, fallback, quiet } = options;
  if (!localTime && !quiet) return [{ dueAt, kind: 'send', zones: null }];
  const zones = [...new Set([...options.zones, fallback])].sort();
  const wall = floatingAt(dueAt, scheduleZone);
  const groups = new Map<string, PlannedSend>();
  for (const zone of zones) {
    let at = localTime ? placeInZone(wall, zone) : dueAt;
    let kind: PlannedSend['kind'] = 'send';
    if (quiet && inQuietHours(at, zone, quiet)) {
      if (quiet.policy === 'delay') at = quietHoursEnd(at, zone, quiet);
      else kind = 'skip';
    }
    const key = `${at}:${kind}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { dueAt: at, kind, ...(kind === 'skip' ? { skipReason: 'quiet_hours' as const } : {}), zones: [] }));
    (group.zones as string[]).push(zone);
    if (zone === fallback) group.othersThan = zones;
  }
  return [...groups.values()].sort((a, b) => a.dueAt - b.dueAt || a.kind.localeCompare(b.kind));
}
