mod pattern_conformance;
