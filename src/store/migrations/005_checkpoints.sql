-- Signed checkpoints of the audit chains (domain.md §6): each states that a tenant's chain from
-- sequence 1 reached head_sequence with head_hash, signed with a key published in /jwks. With
-- them, verify notices a truncated tail, which the hash chain alone cannot.
CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    head_sequence INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    checkpoint_json TEXT NOT NULL,  -- the signed object, as JCS
    signature TEXT NOT NULL,        -- unpadded base64url Ed25519
    kid TEXT NOT NULL,
    issued_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, head_sequence)
) STRICT, WITHOUT ROWID;

-- The head of every chain, kept by each append in the same transaction, so that finding the
-- chains due for a checkpoint does not scan the entries.
CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    head_sequence INTEGER NOT NULL,
    head_hash TEXT NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO audit_heads(tenant_id, head_sequence, head_hash)
    SELECT e.tenant_id, e.sequence, e.hash FROM audit_entries e
    WHERE e.sequence = (SELECT max(sequence) FROM audit_entries x WHERE x.tenant_id = e.tenant_id);
