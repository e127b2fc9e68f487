-- grain: one row per distinct text of a low-cardinality field of a batch (table `spellings`, column
-- `value`, never null): what that text means as a Direction, a TlsVersion or a Status, and the text
-- as stored. Read once per distinct text rather than once per record: a day has millions of records
-- but a few dozen spellings.
-- parameters: $tls_spellings, $tls_buckets (folded TlsVersion spelling -> bucket), $statuses,
--             $direction_spellings, $directions (folded Direction spelling -> direction),
--             all from etl/contract.py
with folded as (
    select
        value,
        nullif(trim(value), '') as stored,
        -- fold spellings the way etl.contract.spelling_key does: lowercase, no space . - _
        lower(replace(replace(replace(replace(value, ' ', ''), '.', ''), '-', ''), '_', '')) as spelling_key
    from spellings
)

select
    value,
    stored,
    $directions[list_position($direction_spellings, spelling_key)] as direction,
    -- empty or unrecognised: unknown (the latter with a warning)
    coalesce($tls_buckets[list_position($tls_spellings, spelling_key)], 'unknown') as tls_bucket,
    stored is not null and not list_contains($tls_spellings, spelling_key) as tls_unrecognised,
    stored is not null and not list_contains($statuses, stored) as status_unrecognised
from folded
