"""paygate-invoices-typst: PDF/A-3b invoices with Typst and Factur-X."""
