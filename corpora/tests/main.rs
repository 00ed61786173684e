//! Integration tests of vg-corpora: one test binary, one module per topic.

mod identity;
mod pii_table;
mod prepare;
mod readers;
mod suffix_array;
mod tokenizer;
