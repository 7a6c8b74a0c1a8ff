-- Refresh-token rotation as data rules (RFC 9700 §4.14.2), kept next to the
-- rows they govern, as Logto's isConsumed and Hydra's RotateRefreshToken do.
-- Prisma does not manage functions: they live in migrations only.

-- Whether a consumed refresh token (never a code) may still be presented once more: its
-- client registered a reuse grace (client metadata
-- `refresh_token_reuse_grace_seconds`, 0-300 s, checked on registration),
-- it was consumed less than that long ago, and it is the newest consumed
-- token of its family (the one right before the live one, never an older one).
CREATE FUNCTION tollgate_within_reuse_grace(token oidc_model) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT token.model = 'RefreshToken'
     AND token.consumed_at IS NOT NULL
     AND EXISTS (
           SELECT 1 FROM client c
            WHERE c.id = token.payload->>'clientId'
              AND jsonb_typeof(c.metadata->'refresh_token_reuse_grace_seconds') = 'number'
              AND (c.metadata->>'refresh_token_reuse_grace_seconds')::double precision > 0
              -- now() is when this transaction began, which may be before a
              -- concurrent rotation consumed the token: hence the explicit > 0
              -- above, so that no grace never means "consumed in the future".
              AND token.consumed_at > now() - make_interval(secs => (c.metadata->>'refresh_token_reuse_grace_seconds')::double precision))
     AND NOT EXISTS (
           SELECT 1 FROM oidc_model n
            WHERE n.model = token.model AND n.grant_id = token.grant_id AND n.consumed_at > token.consumed_at)
$$;

-- Consumes the presented refresh token and stores its successor in one
-- statement, so one transaction: a crash or an outage between the two can
-- never leave a family with no live token (old one spent, successor lost)
-- nor with two. The presented row is locked first, so concurrent rotations
-- of one token are serialised: exactly one of them stores a successor.
-- A token within its reuse grace is rotated again; the successor it was
-- given before is deleted, so the family keeps one live line.
-- Returns false when the token is missing, expired or spent: the caller
-- refuses the request and nothing was written.
CREATE FUNCTION tollgate_rotate_refresh_token(
  spent_id text, successor_id text, successor_payload jsonb,
  successor_grant_id text, successor_account_id text, successor_expires_at timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  spent oidc_model%ROWTYPE;
BEGIN
  SELECT * INTO spent FROM oidc_model
   WHERE model = 'RefreshToken' AND id = spent_id AND (expires_at IS NULL OR expires_at > now())
     FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  ELSIF spent.consumed_at IS NULL THEN
    UPDATE oidc_model SET consumed_at = now() WHERE model = 'RefreshToken' AND id = spent_id;
  ELSIF tollgate_within_reuse_grace(spent) THEN
    DELETE FROM oidc_model WHERE model = 'RefreshToken' AND grant_id = spent.grant_id AND consumed_at IS NULL;
  ELSE
    RETURN false;
  END IF;
  INSERT INTO oidc_model (model, id, payload, grant_id, account_id, expires_at)
  VALUES ('RefreshToken', successor_id, successor_payload, successor_grant_id, successor_account_id, successor_expires_at);
  RETURN true;
END
$$;
