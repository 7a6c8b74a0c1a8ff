// The device behind each login session (user agent, address, first and last
// seen). SQL straight to the driver (see Database.query): touched on every
// successful authorization and every visit of the account page.
import type { Database } from './database.ts';
import { storable } from './text.ts';

export interface SessionDevice {
  sessionUid: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
}

export interface SessionDeviceRepository {
  /** Records a use of the session: created on first sight, last seen every time. */
  touch(sessionUid: string, accountId: string, userAgent: string | undefined, ip: string | undefined): Promise<void>;
  listByAccount(accountId: string): Promise<SessionDevice[]>;
  /**
   * A sign-in completed in this session: the upstream provider it used
   * (social login), or null for any other way in. Written before the
   * authorization response leaves, so the code's exchange finds it.
   */
  recordSignIn(sessionUid: string, accountId: string, idp: string | null, authTime: number): Promise<void>;
  /** The upstream provider of the session's sign-in at `authTime`, if it was a social one (the ID token's `idp`). */
  idpOf(sessionUid: string, authTime: number): Promise<string | undefined>;
  /** Removes every record of the account (its deletion); returns how many went. */
  deleteByAccount(accountId: string): Promise<number>;
  /** Deletes up to `limit` records whose session no longer exists; returns how many went. */
  purgeOrphans(limit: number): Promise<number>;
  /**
   * Deletes up to `limit` records not seen for `seconds`; returns how many
   * went. For when sessions live in Redis, where purgeOrphans cannot look.
   */
  purgeUnseenFor(seconds: number, limit: number): Promise<number>;
}

interface Row { session_uid: string; user_agent: string | null; ip: string | null; created_at: Date; last_seen_at: Date }

const toDevice = (r: Row): SessionDevice => ({
  sessionUid: r.session_uid, userAgent: r.user_agent, ip: r.ip, createdAt: new Date(r.created_at), lastSeenAt: new Date(r.last_seen_at),
});

const clean = (value: string | undefined, max: number) => (value ? value.replaceAll('\u0000', '').slice(0, max) : null);

export function createSessionDeviceRepository(db: Pick<Database, 'query' | 'execute'>): SessionDeviceRepository {
  return {
    async touch(sessionUid, accountId, userAgent, ip) {
      if (!storable(sessionUid) || !storable(accountId)) return;
      await db.execute(
        `INSERT INTO session_device (session_uid, account_id, user_agent, ip) VALUES ($1, $2, $3, $4)
         ON CONFLICT (session_uid) DO UPDATE SET last_seen_at = now(), ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent`,
        [sessionUid, accountId, clean(userAgent, 512), clean(ip, 64)],
      );
    },
    async recordSignIn(sessionUid, accountId, idp, authTime) {
      if (!storable(sessionUid) || !storable(accountId)) return;
      await db.execute(
        `INSERT INTO session_device (session_uid, account_id, idp, idp_auth_time) VALUES ($1, $2, $3, $4)
         ON CONFLICT (session_uid) DO UPDATE SET idp = EXCLUDED.idp, idp_auth_time = EXCLUDED.idp_auth_time`,
        [sessionUid, accountId, idp, authTime],
      );
    },
    async idpOf(sessionUid, authTime) {
      if (!storable(sessionUid)) return undefined;
      const [row] = await db.query<{ idp: string | null }>('SELECT idp FROM session_device WHERE session_uid = $1 AND idp_auth_time = $2', [sessionUid, authTime]);
      return row?.idp ?? undefined;
    },
    async listByAccount(accountId) {
      if (!storable(accountId)) return [];
      const rows = await db.query<Row>('SELECT session_uid, user_agent, ip, created_at, last_seen_at FROM session_device WHERE account_id = $1', [accountId]);
      return rows.map(toDevice);
    },
    async deleteByAccount(accountId) {
      if (!storable(accountId)) return 0;
      return db.execute('DELETE FROM session_device WHERE account_id = $1', [accountId]);
    },
    async purgeUnseenFor(seconds, limit) {
      return db.execute(
        `DELETE FROM session_device WHERE session_uid IN (
           SELECT session_uid FROM session_device WHERE last_seen_at < now() - $1::int * interval '1 second' LIMIT $2)`,
        [seconds, limit],
      );
    },
    async purgeOrphans(limit) {
      return db.execute(
        `DELETE FROM session_device WHERE session_uid IN (
           SELECT d.session_uid FROM session_device d
            WHERE NOT EXISTS (SELECT 1 FROM oidc_model s WHERE s.model = 'Session' AND s.uid = d.session_uid AND (s.expires_at IS NULL OR s.expires_at > now()))
            LIMIT $1)`,
        [limit],
      );
    },
  };
}
