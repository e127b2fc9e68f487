-- grain: one row per rejected record of a day's exports: where it was, why, and its text as read.
create table quarantine (
    date date not null,
    source_file varchar not null,
    source_line bigint not null,
    reason varchar not null,
    raw varchar not null,
    load_id varchar not null
)
