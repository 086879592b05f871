-- An HR schema for the text-to-SQL accuracy set (tests/t2s/hr.json):
-- locations, departments, jobs, employees with managers, projects,
-- assignments and leave requests. Rows are generated deterministically
-- (modular arithmetic, no random()) so gold results never change.
PRAGMA foreign_keys = ON;

CREATE TABLE locations (
    location_id INTEGER PRIMARY KEY,
    city TEXT NOT NULL,
    country TEXT NOT NULL
);
INSERT INTO locations VALUES
    (1, 'London', 'United Kingdom'), (2, 'Berlin', 'Germany'), (3, 'Paris', 'France'),
    (4, 'New York', 'United States'), (5, 'Toronto', 'Canada'), (6, 'Madrid', 'Spain');

CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    department_name TEXT NOT NULL,
    location_id INTEGER NOT NULL REFERENCES locations(location_id),
    budget NUMERIC NOT NULL
);
INSERT INTO departments VALUES
    (1, 'Engineering', 2, 2500000), (2, 'Sales', 4, 1200000), (3, 'Marketing', 3, 800000),
    (4, 'Finance', 1, 600000), (5, 'Human Resources', 1, 400000), (6, 'Support', 5, 500000),
    (7, 'Legal', 4, 450000), (8, 'Research', 6, 900000);

CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY,
    job_title TEXT NOT NULL,
    min_salary NUMERIC NOT NULL,
    max_salary NUMERIC NOT NULL
);
INSERT INTO jobs VALUES
    (1, 'Software Engineer', 60000, 140000), (2, 'Account Executive', 45000, 110000),
    (3, 'Analyst', 40000, 90000), (4, 'Manager', 80000, 160000),
    (5, 'Recruiter', 38000, 75000), (6, 'Support Specialist', 32000, 60000),
    (7, 'Lawyer', 90000, 180000), (8, 'Scientist', 70000, 150000);

CREATE TABLE employees (
    employee_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    gender TEXT NOT NULL,
    hire_date DATE NOT NULL,
    salary NUMERIC NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments(department_id),
    job_id INTEGER NOT NULL REFERENCES jobs(job_id),
    manager_id INTEGER REFERENCES employees(employee_id)
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO employees
SELECT i,
       CASE i % 12 WHEN 0 THEN 'Anna' WHEN 1 THEN 'Ben' WHEN 2 THEN 'Carla' WHEN 3 THEN 'David'
                   WHEN 4 THEN 'Elena' WHEN 5 THEN 'Farid' WHEN 6 THEN 'Grace' WHEN 7 THEN 'Hugo'
                   WHEN 8 THEN 'Ines' WHEN 9 THEN 'Jonas' WHEN 10 THEN 'Kara' ELSE 'Liam' END,
       CASE (i * 7) % 10 WHEN 0 THEN 'Smith' WHEN 1 THEN 'Müller' WHEN 2 THEN 'Dubois'
                         WHEN 3 THEN 'Garcia' WHEN 4 THEN 'Brown' WHEN 5 THEN 'Rossi'
                         WHEN 6 THEN 'Novak' WHEN 7 THEN 'Kim' WHEN 8 THEN 'Silva' ELSE 'Taylor' END,
       'employee' || i || '@example.com',
       CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
       date('2012-01-15', '+' || ((i * 37) % 4300) || ' days'),
       30000 + ((i * 7919) % 120) * 1000,
       CASE WHEN i <= 8 THEN i ELSE CASE WHEN i % 20 < 6 THEN 1 WHEN i % 20 < 10 THEN 2
                                        WHEN i % 20 < 12 THEN 3 WHEN i % 20 = 12 THEN 4
                                        WHEN i % 20 = 13 THEN 5 WHEN i % 20 < 17 THEN 6
                                        WHEN i % 20 = 17 THEN 7 ELSE 8 END END,
       CASE WHEN i <= 8 THEN 4 ELSE 1 + ((i * 3) % 8) END,
       CASE WHEN i <= 8 THEN NULL ELSE 1 + (i % 8) END
FROM n;

CREATE TABLE projects (
    project_id INTEGER PRIMARY KEY,
    project_name TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments(department_id),
    status TEXT NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    budget NUMERIC NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO projects
SELECT i,
       'Project ' || CASE i % 8 WHEN 0 THEN 'Apollo' WHEN 1 THEN 'Borealis' WHEN 2 THEN 'Cobalt'
                               WHEN 3 THEN 'Delta' WHEN 4 THEN 'Ember' WHEN 5 THEN 'Falcon'
                               WHEN 6 THEN 'Granite' ELSE 'Horizon' END || ' ' || i,
       1 + ((i * 5) % 8),
       CASE i % 4 WHEN 0 THEN 'planned' WHEN 1 THEN 'active' WHEN 2 THEN 'completed' ELSE 'active' END,
       date('2019-03-01', '+' || ((i * 53) % 1800) || ' days'),
       CASE WHEN i % 4 = 2 THEN date('2019-03-01', '+' || ((i * 53) % 1800 + 200) || ' days') END,
       50000 + ((i * 3571) % 50) * 10000
FROM n;

CREATE TABLE assignments (
    assignment_id INTEGER PRIMARY KEY,
    employee_id INTEGER NOT NULL REFERENCES employees(employee_id),
    project_id INTEGER NOT NULL REFERENCES projects(project_id),
    role TEXT NOT NULL,
    hours INTEGER NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 420)
INSERT INTO assignments
SELECT i,
       1 + ((i * 13) % 240),
       1 + ((i * 11) % 40),
       CASE i % 3 WHEN 0 THEN 'lead' WHEN 1 THEN 'developer' ELSE 'reviewer' END,
       10 + (i * 29) % 190
FROM n;

CREATE TABLE leave_requests (
    leave_id INTEGER PRIMARY KEY,
    employee_id INTEGER NOT NULL REFERENCES employees(employee_id),
    leave_type TEXT NOT NULL,
    start_date DATE NOT NULL,
    days INTEGER NOT NULL,
    approved INTEGER NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 350)
INSERT INTO leave_requests
SELECT i,
       1 + ((i * 17) % 300),
       CASE i % 5 WHEN 0 THEN 'sick' WHEN 1 THEN 'vacation' WHEN 2 THEN 'vacation'
                  WHEN 3 THEN 'parental' ELSE 'unpaid' END,
       date('2021-01-04', '+' || ((i * 41) % 1400) || ' days'),
       1 + (i * 7) % 20,
       CASE WHEN i % 6 = 0 THEN 0 ELSE 1 END
FROM n;
