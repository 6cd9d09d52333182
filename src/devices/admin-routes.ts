import { z } from 'zod';
import { Router } from 'express';
import { notFound } from '../errors';
import { iso, pageQuery } from '../http/paging';
import { storedText } from '../http/text';
import { parseInput } from '../http/validate';
import { parseDeviceToken } from './device-token';
import { CHANNELS, type Channel, type Device, type DeviceRepository } from './repository';

const listQuery = pageQuery.extend({ userId: storedText().min(1).max(255).optional(), channel: z.enum(CHANNELS as [Channel, ...Channel[]]).optional() });

const present = (device: Device) => ({
  token: device.token,
  channel: device.channel,
  ...(device.subscription ? { endpoint: device.subscription.endpoint } : {}),
  websitePushId: device.websitePushId,
  userId: device.userId,
  createdAt: iso(device.createdAt),
  registeredAt: iso(device.registeredAt),
});

/** Admin reads of the device list; mounted behind the API key check. */
export function deviceAdminRouter(devices: DeviceRepository): Router {
  const router = Router();
  router.get('/devices', async (req, res) => {
    const { userId, channel, limit, cursor } = parseInput(listQuery, req.query, 'query');
    const page = await devices.list({ userId, channel, limit, cursor });
    res.json({ items: page.items.map(present), nextCursor: page.nextCursor });
  });
  router.get('/devices/totals', async (_req, res) => {
    const totals = await devices.totals();
    res.json({ ...totals, all: totals.safari + totals.webpush });
  });
  router.get('/devices/:token', async (req, res) => {
    const device = await devices.findByToken(parseDeviceToken(req.params.token));
    if (!device) throw notFound('No device with that token');
    res.json(present(device));
  });
  router.delete('/devices/:token', async (req, res) => {
    if (!(await devices.removeToken(parseDeviceToken(req.params.token)))) throw notFound('No device with that token');
    res.status(204).end();
  });
  return router;
}
