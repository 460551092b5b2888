//! cgroups: host layout detection, placement and resources (v1, v2, hybrid).
