"""Shape parametrisations of a body and its discrete boundary: numpy only."""
