//! Filtering rules: exclusion patterns and address validity / ip-family (nvme-stas §5.11).
