"""humanparse_d2.data"""
