"""The Streamlit monitoring page: `streamlit run ui/app.py -- --store URL` (see ui/app.py)."""
