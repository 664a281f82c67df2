"""The researcher's pages: blinded counts, the analysis and the exports."""
