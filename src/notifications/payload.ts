import { createClickRefs, MAX_CLICK_TARGET } from '../clicks/click-ref';
import { placeholderCount } from '../safari/raw-package';
import { buildWebPushPayload, MAX_WEB_PUSH_PAYLOAD_BYTES } from '../webpush/payload';
import type { NotificationInput } from './repository';

/** A Web Push click reference for the largest delivery id and button (signatures have one length). */
const LONGEST_WEB_PUSH_REF = createClickRefs(['length only']).sign({ notificationId: '0'.repeat(36), deliveryId: Number.MAX_SAFE_INTEGER, urlArgs: [], target: MAX_CLICK_TARGET });
/** The longest shown reference (the service worker's report that it showed the notification). */
const LONGEST_SHOWN_REF = createClickRefs(['length only']).signShown({ notificationId: '0'.repeat(36), deliveryId: Number.MAX_SAFE_INTEGER });

/** APNs refuses larger payloads with 413 PayloadTooLarge. */
export const MAX_PAYLOAD_BYTES = 4096;

/** The APNs payload of a Safari notification (docs/protocol.md §1, "Sending through APNs"). */
export function buildSafariPayload(input: Pick<NotificationInput, 'title' | 'body' | 'action' | 'urlArgs'>): object {
  const alert: Record<string, string> = { title: input.title, body: input.body };
  if (input.action !== undefined) alert.action = input.action;
  return { aps: { alert, 'url-args': input.urlArgs } };
}

/**
 * What APNs or Safari would reject, as messages for a 400: Safari shows nothing when url-args
 * and `%@` counts differ, and APNs refuses payloads over 4096 bytes.
 */
export function payloadProblems(input: NotificationInput, urlFormatString: string, nowSeconds: number, links: { clickTracking: boolean; serviceUrl: string }): string[] {
  const problems: string[] = [];
  const expected = placeholderCount(urlFormatString);
  if (input.urlArgs.length !== expected) {
    problems.push(`urlArgs has ${input.urlArgs.length} entries but urlFormatString "${urlFormatString}" has ${expected} %@ placeholders`);
  }
  // With click tracking the url-args become one signed reference that carries them (click-ref.ts): measure the largest.
  const ref = links.clickTracking ? 'x'.repeat(Math.ceil((JSON.stringify(['0'.repeat(36), Number.MAX_SAFE_INTEGER, input.urlArgs]).length * 4) / 3) + 23) : undefined;
  const size = Buffer.byteLength(JSON.stringify(buildSafariPayload(ref ? { ...input, urlArgs: [ref] } : input)));
  if (size > MAX_PAYLOAD_BYTES) problems.push(`payload is ${size} bytes, APNs accepts at most ${MAX_PAYLOAD_BYTES}`);
  // The Web Push payload as the largest delivery would get it: every click link (notification and
  // buttons) with the longest reference a delivery can have.
  const longestLink = `${links.serviceUrl}/click/${LONGEST_WEB_PUSH_REF}`;
  const webPushSize = Buffer.byteLength(
    buildWebPushPayload(input, {
      targetUrl: input.webPush?.url ?? 'x'.repeat(urlFormatString.length + input.urlArgs.reduce((n, arg) => n + encodeURIComponent(arg).length, 0)),
      serviceUrl: links.serviceUrl,
      clicks: links.clickTracking ? Array.from({ length: 1 + (input.webPush?.actions?.length ?? 0) }, () => longestLink) : undefined,
      shown: links.clickTracking ? `${links.serviceUrl}/shown/${LONGEST_SHOWN_REF}` : undefined,
    }),
  );
  if (webPushSize > MAX_WEB_PUSH_PAYLOAD_BYTES) problems.push(`Web Push payload is ${webPushSize} bytes, push services accept at most ${MAX_WEB_PUSH_PAYLOAD_BYTES}`);
  if (input.collapseId !== undefined && Buffer.byteLength(input.collapseId) > 64) problems.push('collapseId must be at most 64 bytes');
  if (input.expiration !== undefined && input.expiration !== 0 && input.expiration < nowSeconds) {
    problems.push('expiration is in the past (use 0 for "deliver once or drop")');
  }
  return problems;
}
