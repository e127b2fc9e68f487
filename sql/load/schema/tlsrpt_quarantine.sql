-- grain: one row per SMTP TLS report (or file holding none) refused, with its reason: filed under
-- the day its date-range gives when it can be read, else the day in its file name
-- (google.com!example.com!<start>!<end>!...), else the UTC day the file landed.
create table tlsrpt_quarantine (
    date date not null,
    source varchar not null,
    file_sha256 varchar not null,
    reason varchar not null,
    load_id varchar not null
)
